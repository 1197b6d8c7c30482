// The health server over real HTTP: /healthz follows isHealthy, /status and /metrics render
// state, wrong paths and methods are refused, a taken port is a clear error, close() never hangs.
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HerdError } from '../../agent/errors.ts';
import { createLogger, silentLogger } from '../../agent/log.ts';
import { createMetrics } from '../../agent/health/metrics.ts';
import { routeRequest, startHealthServer, type HealthServer } from '../../agent/health/server.ts';

const servers: HealthServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(over: Partial<Parameters<typeof startHealthServer>[0]> = {}): Promise<{ server: HealthServer; base: string }> {
  const server = await startHealthServer({
    port: 0, host: '127.0.0.1', isHealthy: () => true, status: () => ({}), metrics: createMetrics(), log: silentLogger(), ...over,
  });
  servers.push(server);
  return { server, base: `http://127.0.0.1:${server.port}` };
}

describe('startHealthServer', () => {
  it('answers /healthz 200 or 503 as isHealthy changes', async () => {
    let healthy = false;
    const { base } = await start({ isHealthy: () => healthy });
    const first = await fetch(`${base}/healthz`);
    expect([first.status, await first.text(), first.headers.get('content-type')]).toEqual([503, 'unhealthy\n', 'text/plain; charset=utf-8']);
    healthy = true;
    const second = await fetch(`${base}/healthz`);
    expect([second.status, await second.text()]).toEqual([200, 'ok\n']);
    healthy = false;
    expect((await fetch(`${base}/healthz?from=alb`)).status).toBe(503);
  });

  it('serves /status as JSON of status()', async () => {
    const status = { instanceId: 'i-1', state: 'running', release: 'r2', lastError: null };
    const { base } = await start({ status: () => status });
    const res = await fetch(`${base}/status`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.json()).toEqual(status);
  });

  it('serves /metrics as Prometheus text with the agent metrics', async () => {
    const metrics = createMetrics();
    metrics.appHealthy.set(1);
    metrics.setRelease('r1');
    metrics.setRelease('r2');
    metrics.fetches.inc({ result: 'fetched' });
    const { base } = await start({ metrics });
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(metrics.registry.contentType);
    const text = await res.text();
    expect(text).toMatch(/^herd_app_healthy 1$/m);
    expect(text).toMatch(/^herd_release_info\{release="r2"\} 1$/m);
    expect(text).not.toContain('release="r1"');
    expect(text).toMatch(/^herd_fetches_total\{result="fetched"\} 1$/m);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
  });

  it('answers HEAD with headers only', async () => {
    const { base } = await start({ isHealthy: () => false });
    const res = await fetch(`${base}/healthz`, { method: 'HEAD' });
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('');
  });

  it('refuses unknown paths with 404 and other methods with 405', async () => {
    const { base } = await start();
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/healthz/extra`)).status).toBe(404);
    const post = await fetch(`${base}/healthz`, { method: 'POST', body: 'x' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    expect((await fetch(`${base}/status`, { method: 'DELETE' })).status).toBe(405);
  });

  it('answers 500, not a crash, when status() cannot be rendered', async () => {
    const { base } = await start({ status: () => ({ big: 1n }) });
    const res = await fetch(`${base}/status`);
    expect(res.status).toBe(500);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('does not log requests at info level', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: 'info', destination: { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } } });
    const { base } = await start({ log });
    for (let i = 0; i < 3; i++) await (await fetch(`${base}/healthz`)).text();
    expect(lines.map((l) => l.msg)).toEqual(['health server listening']);
  });

  it('rejects with a HerdError naming the port when it is taken', async () => {
    const { server } = await start();
    const taken = startHealthServer({ port: server.port, host: '127.0.0.1', isHealthy: () => true, status: () => ({}), metrics: createMetrics(), log: silentLogger() });
    await expect(taken).rejects.toBeInstanceOf(HerdError);
    await expect(taken).rejects.toThrow(`health server cannot listen on 127.0.0.1:${server.port}: the port is already in use`);
  });

  // The server's own timeouts are 5 s; this test's 3 s limit fails if close() waits for them.
  it('closes promptly with a keep-alive client and a half-sent request connected', { timeout: 3_000 }, async () => {
    const server = await startHealthServer({ port: 0, host: '127.0.0.1', isHealthy: () => true, status: () => ({}), metrics: createMetrics(), log: silentLogger() });
    const agent = new http.Agent({ keepAlive: true });
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: server.port, path: '/healthz', agent }, resolve).on('error', reject);
    });
    res.resume();
    await new Promise((resolve) => res.on('end', resolve));
    const raw = net.connect(server.port, '127.0.0.1');
    await new Promise((resolve) => raw.on('connect', resolve));
    raw.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'); // headers never finished
    const rawClosed = new Promise((resolve) => raw.on('close', resolve));
    raw.on('error', () => {});

    await server.close();
    await server.close(); // idempotent
    await rawClosed;
    agent.destroy();
    await expect(fetch(`http://127.0.0.1:${server.port}/healthz`)).rejects.toThrow();
  });
});

describe('routeRequest', () => {
  it.each<[string | undefined, string | undefined, ReturnType<typeof routeRequest>]>([
    ['GET', '/healthz', { route: 'healthz' }],
    ['HEAD', '/healthz', { route: 'healthz' }],
    ['GET', '/status?x=1', { route: 'status' }],
    ['GET', '/metrics', { route: 'metrics' }],
    ['GET', '/', { error: 404 }],
    ['GET', '/HEALTHZ', { error: 404 }],
    ['POST', '/nope', { error: 404 }],
    ['PUT', '/metrics', { error: 405 }],
    [undefined, undefined, { error: 404 }],
  ])('%s %s', (method, url, expected) => {
    expect(routeRequest(method, url)).toEqual(expected);
  });
});
