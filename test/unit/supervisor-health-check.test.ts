// The health probe against real HTTP servers, the health gate against real fixture apps,
// and the pure outcome decision as a table.
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.ts';
import { startApp, type AppHandle } from '../../agent/supervisor/app-process.ts';
import { judgeHealthWait, probeHealth, waitHealthy, type HealthWaitState } from '../../agent/supervisor/health-check.ts';

const APPS = path.resolve(import.meta.dirname, '../fixtures/apps');
const PATH = `${path.dirname(process.execPath)}:/usr/bin:/bin`;

const servers: http.Server[] = [];
const apps: AppHandle[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await Promise.allSettled(apps.splice(0).map((app) => app.stop()));
});

/** A server whose handler the test writes; resolves with its base URL. */
async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function start(fixture: string, port: number): AppHandle {
  const app = startApp({
    command: [path.join(APPS, fixture)], cwd: APPS, env: { PATH, PORT: String(port) },
    stopSignal: 'SIGTERM', stopTimeoutS: 2, log: silentLogger(),
  });
  apps.push(app);
  return app;
}

describe('probeHealth', () => {
  it.each([
    [200, true], [204, true], [299, true], [301, false], [404, false], [500, false], [503, false],
  ])('HTTP %i is ok=%s', async (status, ok) => {
    const base = await serve((_req, res) => { res.statusCode = status; res.end(); });
    expect(await probeHealth({ url: `${base}/healthz`, timeoutMs: 5_000 })).toEqual({ ok, status });
  });

  it('asks for the path given and does not keep the connection', async () => {
    const seen: { url?: string; connection?: string }[] = [];
    const base = await serve((req, res) => { seen.push({ url: req.url, connection: req.headers.connection }); res.end('ok'); });
    await probeHealth({ url: `${base}/ready?deep=1`, timeoutMs: 5_000 });
    expect(seen).toEqual([{ url: '/ready?deep=1', connection: 'close' }]);
  });

  it('reports a refused connection as an error, without throwing', async () => {
    const result = await probeHealth({ url: `http://127.0.0.1:${await closedPort()}/healthz`, timeoutMs: 5_000 });
    expect(result.ok).toBe(false);
    expect(result.status).toBeUndefined();
    expect(result.error).toMatch(/ECONNREFUSED/);
  });

  it('gives up on a server that never answers', async () => {
    const base = await serve(() => { /* never answers */ });
    expect(await probeHealth({ url: `${base}/healthz`, timeoutMs: 200 })).toEqual({ ok: false, error: 'no answer within 200 ms' });
  });

  it.each(['not a url', 'ftp://127.0.0.1/healthz'])('reports a bad URL (%s) as an error', async (url) => {
    const result = await probeHealth({ url, timeoutMs: 1_000 });
    expect(result.ok).toBe(false);
    expect(result.error).toContain(url.startsWith('ftp') ? 'unsupported protocol' : 'not a valid URL');
  });
});

describe('waitHealthy', () => {
  it('is healthy once the server starts answering 2xx', async () => {
    let calls = 0;
    const base = await serve((_req, res) => { calls += 1; res.statusCode = calls < 3 ? 503 : 200; res.end(); });
    const result = await waitHealthy({ url: `${base}/healthz`, timeoutS: 20, intervalMs: 20 });
    expect(result).toEqual({ healthy: true, reason: `${base}/healthz answered HTTP 200 after 3 check(s)` });
  });

  it('names the last real answer, not a probe the deadline cut short', async () => {
    let calls = 0;
    // Answers 500 once, then never answers: the last probe always runs into the deadline.
    const base = await serve((_req, res) => { calls += 1; if (calls === 1) { res.statusCode = 500; res.end(); } });
    const result = await waitHealthy({ url: `${base}/healthz`, timeoutS: 1, intervalMs: 100, probeTimeoutMs: 5_000 });
    expect(result).toEqual({ healthy: false, reason: `${base}/healthz was not healthy within 1s (last check: HTTP 500)` });
  });

  it('is not healthy when the app never passes, naming the last status', async () => {
    const port = await closedPort();
    const app = start('never-healthy.mjs', port);
    const result = await waitHealthy({ url: `http://127.0.0.1:${port}/healthz`, timeoutS: 2, intervalMs: 50, exited: app.exited });
    expect(result.healthy).toBe(false);
    expect(result.reason).toBe(`http://127.0.0.1:${port}/healthz was not healthy within 2s (last check: HTTP 500)`);
  });

  it('names the connection error when nothing listens', async () => {
    const port = await closedPort();
    const result = await waitHealthy({ url: `http://127.0.0.1:${port}/healthz`, timeoutS: 0.3, intervalMs: 50 });
    expect(result.healthy).toBe(false);
    expect(result.reason).toMatch(/not healthy within 0\.3s \(last check: .*ECONNREFUSED/);
  });

  it('stops waiting as soon as the app exits, with its exit code', async () => {
    const port = await closedPort();
    const app = start('exit-1.mjs', port);
    const result = await waitHealthy({ url: `http://127.0.0.1:${port}/healthz`, timeoutS: 600, intervalMs: 50, exited: app.exited });
    expect(result).toEqual({ healthy: false, reason: `the app exited (exit code 1) before http://127.0.0.1:${port}/healthz answered healthy` });
  });

  it('stops waiting when the app could not start', async () => {
    const app = startApp({ command: ['/nonexistent/app'], cwd: APPS, env: { PATH }, stopSignal: 'SIGTERM', stopTimeoutS: 1, log: silentLogger() });
    const result = await waitHealthy({ url: 'http://127.0.0.1:9/healthz', timeoutS: 600, intervalMs: 50, exited: app.exited });
    expect(result.healthy).toBe(false);
    expect(result.reason).toMatch(/^the app did not start: cannot start the app \(\/nonexistent\/app\).*program not found/);
  });

  it('stops waiting when aborted', async () => {
    const port = await closedPort();
    const controller = new AbortController();
    const waiting = waitHealthy({ url: `http://127.0.0.1:${port}/healthz`, timeoutS: 600, intervalMs: 50, signal: controller.signal });
    controller.abort();
    expect(await waiting).toEqual({ healthy: false, reason: `the health check of http://127.0.0.1:${port}/healthz was cancelled` });
  });
});

describe('judgeHealthWait', () => {
  const base: HealthWaitState = { url: 'http://h/healthz', timeoutS: 5, attempts: 2, aborted: false, timedOut: false };
  it.each<[string, Partial<HealthWaitState>, ReturnType<typeof judgeHealthWait>]>([
    ['nothing yet: keep polling', {}, null],
    ['a failed check: keep polling', { last: { ok: false, status: 500 } }, null],
    ['a 2xx', { last: { ok: true, status: 204 } }, { healthy: true, reason: 'http://h/healthz answered HTTP 204 after 2 check(s)' }],
    ['timed out after a status', { last: { ok: false, status: 500 }, timedOut: true }, { healthy: false, reason: 'http://h/healthz was not healthy within 5s (last check: HTTP 500)' }],
    ['timed out after an error', { last: { ok: false, error: 'connect ECONNREFUSED' }, timedOut: true }, { healthy: false, reason: 'http://h/healthz was not healthy within 5s (last check: connect ECONNREFUSED)' }],
    ['timed out before any check', { timedOut: true }, { healthy: false, reason: 'http://h/healthz was not healthy within 5s (last check: none completed)' }],
    ['exited with a code', { exit: { value: { code: 2, signal: null } } }, { healthy: false, reason: 'the app exited (exit code 2) before http://h/healthz answered healthy' }],
    ['killed by a signal', { exit: { value: { code: null, signal: 'SIGSEGV' } } }, { healthy: false, reason: 'the app exited (killed by SIGSEGV) before http://h/healthz answered healthy' }],
    ['an exit beats a late 2xx', { exit: { value: { code: 0, signal: null } }, last: { ok: true, status: 200 } }, { healthy: false, reason: 'the app exited (exit code 0) before http://h/healthz answered healthy' }],
    ['never started', { exit: { error: new Error('cannot start the app (x)') } }, { healthy: false, reason: 'the app did not start: cannot start the app (x)' }],
    ['aborted', { aborted: true, timedOut: true }, { healthy: false, reason: 'the health check of http://h/healthz was cancelled' }],
  ])('%s', (_name, change, expected) => {
    expect(judgeHealthWait({ ...base, ...change })).toEqual(expected);
  });
});
