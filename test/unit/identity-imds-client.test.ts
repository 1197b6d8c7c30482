// ImdsClient against the fake IMDSv2 server over real HTTP: one token reused, refreshed
// before it expires, re-fetched once after a 401, and never a request without one.
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeError, IdentityError } from '../../agent/errors.ts';
import { ImdsClient, ImdsError } from '../../agent/identity/imds-client.ts';
import { createLogger, silentLogger } from '../../agent/log.ts';
import { startImdsServer, type ImdsServer } from '../fixtures/imds-server.ts';

let server: ImdsServer;

beforeEach(async () => {
  server = await startImdsServer({
    instanceId: 'i-0123456789abcdef0',
    region: 'eu-west-1',
    az: 'eu-west-1b',
    tags: { 'herd:role': 'web', Name: 'web-1' },
  });
});
afterEach(async () => {
  await server.close();
});

function everyGetHadAToken(): boolean {
  return server.requests.filter((r) => r.method !== 'PUT').every((r) => r.hadToken);
}

describe('ImdsClient', () => {
  it('fetches one token and reuses it across many requests', async () => {
    const imds = new ImdsClient({ log: silentLogger(), endpoint: server.url });
    for (let i = 0; i < 10; i++) expect(await imds.get('meta-data/instance-id')).toBe('i-0123456789abcdef0');
    expect(await imds.get('meta-data/placement/region')).toBe('eu-west-1');
    expect(server.tokensIssued()).toBe(1);
    expect(server.requests.filter((r) => r.method === 'GET')).toHaveLength(11);
    expect(everyGetHadAToken()).toBe(true);
  });

  it('shares one token fetch between concurrent requests', async () => {
    const imds = new ImdsClient({ log: silentLogger(), endpoint: server.url });
    const paths = ['meta-data/instance-id', 'meta-data/placement/region', 'meta-data/placement/availability-zone'];
    expect(await Promise.all(paths.map((p) => imds.get(p)))).toEqual(['i-0123456789abcdef0', 'eu-west-1', 'eu-west-1b']);
    expect(server.tokensIssued()).toBe(1);
  });

  it('asks for the configured TTL', async () => {
    const imds = new ImdsClient({ log: silentLogger(), endpoint: server.url, tokenTtlS: 300, tokenRefreshMarginS: 10 });
    await imds.get('meta-data/instance-id');
    expect(server.requests[0]).toMatchObject({ method: 'PUT', path: '/latest/api/token', status: 200 });
  });

  it('refreshes the token when less than the margin of its TTL remains', async () => {
    let now = 1_000_000;
    const imds = new ImdsClient({
      log: silentLogger(), endpoint: server.url, tokenTtlS: 600, tokenRefreshMarginS: 60, now: () => now,
    });
    await imds.get('meta-data/instance-id');
    now += 539_000; // 61 s left: still good
    await imds.get('meta-data/instance-id');
    expect(server.tokensIssued()).toBe(1);
    now += 2_000; // 59 s left: refresh
    await imds.get('meta-data/instance-id');
    expect(server.tokensIssued()).toBe(2);
    await imds.get('meta-data/instance-id');
    expect(server.tokensIssued()).toBe(2);
  });

  it('with a real 1 s TTL, gets a new token after the old one expired', async () => {
    const imds = new ImdsClient({ log: silentLogger(), endpoint: server.url, tokenTtlS: 1, tokenRefreshMarginS: 0 });
    await imds.get('meta-data/instance-id');
    await new Promise((r) => setTimeout(r, 1100));
    expect(await imds.get('meta-data/instance-id')).toBe('i-0123456789abcdef0');
    expect(server.tokensIssued()).toBe(2);
    // It refreshed ahead of the server's expiry: no request was turned away.
    expect(server.requests.filter((r) => r.status === 401)).toEqual([]);
  });

  it('after a revoked token (401) fetches one new token and retries once', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
    const imds = new ImdsClient({ log, endpoint: server.url });
    await imds.get('meta-data/instance-id');
    server.revokeTokens();
    expect(await imds.get('meta-data/placement/availability-zone')).toBe('eu-west-1b');
    expect(server.tokensIssued()).toBe(2);
    expect(server.requests.map((r) => `${r.method} ${r.status}`)).toEqual([
      'PUT 200', 'GET 200', 'GET 401', 'PUT 200', 'GET 200',
    ]);
    const warn = lines.map((l) => JSON.parse(l)).find((l) => l.level === 40);
    expect(warn).toMatchObject({ module: 'imds', path: 'meta-data/placement/availability-zone' });
    expect(everyGetHadAToken()).toBe(true);
  });

  it('fails with ImdsError (401) when the fresh token is rejected too, without looping', async () => {
    const imds = new ImdsClient({ log: silentLogger(), endpoint: server.url });
    server.refuseTokens(true);
    const err = await imds.get('meta-data/instance-id').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImdsError);
    expect((err as ImdsError).status).toBe(401);
    expect((err as Error).message).toContain('rejected the session token twice');
    expect(server.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['PUT 200', 'GET 401', 'PUT 200', 'GET 401']);
  });

  it('never falls back to IMDSv1 when the token PUT is refused', async () => {
    // A v1-only metadata service: no token endpoint, but it would answer a tokenless GET.
    const seen: string[] = [];
    const v1 = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(req.method === 'PUT' ? 404 : 200).end(req.method === 'PUT' ? '' : 'i-v1');
    });
    await new Promise<void>((r) => v1.listen(0, '127.0.0.1', r));
    try {
      const { port } = v1.address() as AddressInfo;
      const imds = new ImdsClient({ log: silentLogger(), endpoint: `http://127.0.0.1:${port}` });
      const err = await imds.get('meta-data/instance-id').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImdsError);
      expect((err as Error).message).toContain('no IMDSv2 token endpoint (404)');
      expect(seen).toEqual(['PUT /latest/api/token']);
    } finally {
      v1.closeAllConnections();
      await new Promise((r) => v1.close(r));
    }
  });

  it('getOrNull returns null on 404 and get throws ImdsError with the status', async () => {
    const imds = new ImdsClient({ log: silentLogger(), endpoint: server.url });
    expect(await imds.getOrNull('meta-data/spot/instance-action')).toBeNull();
    const err = await imds.get('meta-data/nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImdsError);
    expect(err).toBeInstanceOf(IdentityError);
    expect((err as ImdsError).status).toBe(404);
    expect((err as Error).message).toContain('GET meta-data/nope');
    expect(server.requests.filter((r) => r.path === '/latest/meta-data/nope')).toHaveLength(1); // 404 is not retried
  });

  it('reads values the test sets at runtime', async () => {
    const imds = new ImdsClient({ log: silentLogger(), endpoint: server.url });
    expect(await imds.get('meta-data/autoscaling/target-lifecycle-state')).toBe('InService');
    server.set('meta-data/autoscaling/target-lifecycle-state', 'Terminated');
    server.set('meta-data/spot/instance-action', '{"action":"terminate","time":"2030-01-01T00:00:00Z"}');
    expect(await imds.get('meta-data/autoscaling/target-lifecycle-state')).toBe('Terminated');
    expect(JSON.parse(await imds.get('meta-data/spot/instance-action'))).toMatchObject({ action: 'terminate' });
    server.set('meta-data/spot/instance-action', null);
    expect(await imds.getOrNull('meta-data/spot/instance-action')).toBeNull();
  });

  it('never puts the token in a log line or an error message', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'trace', destination: { write: (s: string) => void lines.push(s) } });
    const imds = new ImdsClient({ log, endpoint: server.url });
    await imds.get('meta-data/instance-id');
    server.revokeTokens();
    await imds.get('meta-data/instance-id');
    const err = await imds.get('meta-data/missing').catch((e: unknown) => e);
    const token = server.lastToken();
    expect(token).toBeTruthy();
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).not.toContain(token);
    expect(describeError(err)).not.toContain(token);
  });

  it('fails fast with IdentityError when nothing listens at the endpoint', async () => {
    const url = server.url;
    await server.close();
    const imds = new ImdsClient({ log: silentLogger(), endpoint: url, retries: 2, retryDelayMs: 10 });
    const err = await imds.get('meta-data/instance-id').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImdsError);
    expect((err as ImdsError).status).toBeNull();
    expect((err as Error).message).toContain(`metadata service at ${url} did not answer`);
    server = await startImdsServer({ instanceId: 'i-1', region: 'r', az: 'a', tags: null }); // for afterEach
  }, 10_000);

  it('gives up after its retries when the endpoint accepts connections but never answers', async () => {
    // What a container behind a hop limit of 1 sees: the token PUT's answer never arrives.
    const sockets: Socket[] = [];
    const silent = createNetServer((socket) => void sockets.push(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const { port } = silent.address() as AddressInfo;
      const imds = new ImdsClient({
        log: silentLogger(), endpoint: `http://127.0.0.1:${port}`, timeoutMs: 200, retries: 1, retryDelayMs: 10,
      });
      const err = await imds.get('meta-data/instance-id').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImdsError);
      expect((err as ImdsError).status).toBeNull();
      expect((err as Error).message).toContain('did not answer');
      expect(sockets).toHaveLength(2); // the first try and one retry, each a token PUT
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  }, 10_000);

  it('refuses a TTL outside 1-21600 s and a margin not below the TTL', () => {
    expect(() => new ImdsClient({ log: silentLogger(), tokenTtlS: 0 })).toThrow(IdentityError);
    expect(() => new ImdsClient({ log: silentLogger(), tokenTtlS: 21601 })).toThrow(/1 to 21600/);
    expect(() => new ImdsClient({ log: silentLogger(), tokenTtlS: 60, tokenRefreshMarginS: 60 })).toThrow(/margin/);
    expect(() => new ImdsClient({ log: silentLogger(), endpoint: 'not a url' })).toThrow(/not a URL/);
  });
});
