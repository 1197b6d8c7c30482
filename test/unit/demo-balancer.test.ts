// The demo's load balancers (HAProxy, and the Node fallback) against real HTTP servers:
// traffic goes only where /healthz passes, and a request that meets a closed instance is
// sent to another one instead of failing. The traffic loop counts what it got.
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HEALTH_CHECK, type Balancer } from '../../demo/balancer.ts';
import { findHaproxy, startHaproxy } from '../../demo/haproxy.ts';
import { startNodeBalancer } from '../../demo/node-balancer.ts';
import { startTraffic } from '../../demo/traffic.ts';
import { silentLogger } from '../../agent/log.ts';
import { freePort } from '../../support/ports.ts';
import { waitUntil } from '../helpers/harness.ts';

interface FakeInstance { name: string; appPort: number; healthPort: number; healthy: boolean; closeApp(): Promise<void>; close(): Promise<void> }

/** An app that answers {release: name} and a health server that answers as told. */
async function fakeInstance(name: string): Promise<FakeInstance> {
  const listen = (handler: http.RequestListener) => new Promise<http.Server>((r) => {
    const server = http.createServer(handler);
    server.listen(0, '127.0.0.1', () => r(server));
  });
  const app = await listen((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ release: name })));
  const instance: FakeInstance = {
    name, healthy: true,
    appPort: (app.address() as { port: number }).port,
    healthPort: 0,
    closeApp: () => new Promise((r) => { app.close(() => r()); app.closeAllConnections(); }),
    close: async () => {
      await Promise.all([instance.closeApp().catch(() => {}), new Promise<void>((r) => { health.close(() => r()); health.closeAllConnections(); })]);
    },
  };
  const health = await listen((_req, res) => res.writeHead(instance.healthy ? 200 : 503).end());
  instance.healthPort = (health.address() as { port: number }).port;
  return instance;
}

const haproxyBin = await findHaproxy([...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']);
const kinds: Array<[string, boolean, (dir: string, servers: FakeInstance[]) => Promise<Balancer>]> = [
  ['HAProxy', haproxyBin !== null, async (dir, servers) => startHaproxy({
    bin: haproxyBin as string, dir, port: await freePort(), servers, check: HEALTH_CHECK, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  })],
  ['the Node proxy', true, async (_dir, servers) => startNodeBalancer({ port: await freePort(), servers, check: HEALTH_CHECK, log: silentLogger() })],
];

describe.each(kinds)('the demo load balancer: %s', (_name, available, start) => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function setUp(): Promise<{ a: FakeInstance; b: FakeInstance; lb: Balancer }> {
    const dir = await mkdtemp(join(tmpdir(), 'herd-lb-test-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const [a, b] = [await fakeInstance('a'), await fakeInstance('b')];
    closers.push(() => a.close(), () => b.close());
    const lb = await start(dir, [a, b]);
    closers.push(() => lb.stop());
    await waitUntil('both servers UP', async () => {
      const s = await lb.serverStates();
      return s.a === 'UP' && s.b === 'UP';
    });
    return { a, b, lb };
  }

  async function answers(lb: Balancer, n: number): Promise<string[]> {
    const got: string[] = [];
    for (let i = 0; i < n; i++) {
      const res = await fetch(`${lb.url}/`, { headers: { connection: 'close' } });
      got.push(res.status === 200 ? ((await res.json()) as { release: string }).release : `HTTP ${res.status}`);
    }
    return got;
  }

  it.skipIf(!available)('sends traffic only to instances whose /healthz passes, taking them out and back', async () => {
    const { b, lb } = await setUp();
    expect(new Set(await answers(lb, 10))).toEqual(new Set(['a', 'b']));

    b.healthy = false;
    await waitUntil('b DOWN', async () => (await lb.serverStates()).b === 'DOWN');
    expect(new Set(await answers(lb, 10))).toEqual(new Set(['a']));

    b.healthy = true;
    await waitUntil('b UP again', async () => (await lb.serverStates()).b === 'UP');
    expect(new Set(await answers(lb, 10))).toEqual(new Set(['a', 'b']));
  });

  it.skipIf(!available)('sends a request that meets a closed instance to another one: none fails', async () => {
    const { a, lb } = await setUp();
    await a.closeApp();
    // Its /healthz still passes, so the balancer keeps trying it; each such attempt is retried on b.
    const traffic = startTraffic({ url: `${lb.url}/`, ratePerS: 50 });
    await waitUntil('40 requests', async () => traffic.counts().served + traffic.counts().failed >= 40);
    const counts = await traffic.stop();
    expect(counts.failures).toEqual({});
    expect(counts.failed).toBe(0);
    expect(Object.keys(counts.byRelease)).toEqual(['b']);
    const retries = await lb.retries();
    expect(retries.retried + retries.redispatched).toBeGreaterThan(0);
  });

  it.skipIf(!available)('answers 503 when no instance is healthy, counted as failed by the traffic loop', async () => {
    const { a, b, lb } = await setUp();
    a.healthy = false;
    b.healthy = false;
    await waitUntil('both DOWN', async () => Object.values(await lb.serverStates()).every((s) => s === 'DOWN'));
    const traffic = startTraffic({ url: `${lb.url}/`, ratePerS: 50 });
    await waitUntil('5 requests', async () => traffic.counts().failed >= 5);
    const counts = await traffic.stop();
    expect(counts.served).toBe(0);
    expect(counts.failures['HTTP 503']).toBe(counts.failed);
  });

  it.skipIf(!available)('stops: the port is closed and a HAProxy child is gone', async () => {
    const { lb } = await setUp();
    await lb.stop();
    await expect(fetch(`${lb.url}/`)).rejects.toThrow();
    if (lb.pid !== null) expect(() => process.kill(lb.pid as number, 0)).toThrow();
  });
});
