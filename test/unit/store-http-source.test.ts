// A read-only HTTP(S) source against a scripted server, through the ObjectStore and Sources the
// agent uses: keys appended to the URL's path, unsigned GETs; a conditional read with the ETag,
// else the Last-Modified, and a 304 that returns the channel read before; 404 as not found;
// 5xx retried; a server that never answers failing within the deadline; writes never sent,
// and reports going to the next source that takes writes, or nowhere, said once.
import { afterEach, describe, expect, it } from 'vitest';
import { NotFoundError, StoreError } from '../../agent/errors.ts';
import { createLogger, silentLogger } from '../../agent/log.ts';
import { ObjectStore } from '../../agent/store/object-store.ts';
import { Sources } from '../../agent/store/sources.ts';
import { startScriptedServer, type Handler, type ScriptedServer } from '../fixtures/scripted-server.ts';

let server: ScriptedServer | undefined;
const scripted = async (...handlers: Handler[]) => (server = await startScriptedServer(handlers));
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const channel = (release: string) => JSON.stringify({
  schema: 'herd/channel@1', role: 'web', release, previous: null,
  rollout: { percent: 100, waves: 1, waveIntervalS: 0, startedAt: '2026-12-01T13:08:04.890Z' },
  paused: false, generation: 1, updatedAt: '2026-12-01T13:08:04.890Z', updatedBy: 'alice@laptop',
});
const store = (url: string) => new ObjectStore({ source: { url }, log: silentLogger() });
const LAST_MODIFIED = 'Tue, 01 Dec 2026 13:08:05 GMT';

describe('an HTTP source', () => {
  it('GETs <url>/<key> unsigned; with an ETag the next read is If-None-Match, and its 304 gives the channel read before', async () => {
    const s = await scripted(
      (_req, res) => res.writeHead(200, { etag: '"c1"', 'last-modified': LAST_MODIFIED }).end(channel('v1')),
      (_req, res) => res.writeHead(304).end(),
    );
    const sources = new Sources({ stores: [store(`${s.url}/mirror/herd/`)], log: silentLogger() });
    expect(await sources.channel('web')).toMatchObject({ kind: 'found', channel: { release: 'v1' }, source: `${s.url}/mirror/herd` });
    expect(await sources.channel('web')).toMatchObject({ kind: 'found', channel: { release: 'v1' } });
    expect(s.seen.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /mirror/herd/roles/web/channel.json', 'GET /mirror/herd/roles/web/channel.json']);
    expect(s.seen[0]?.headers.authorization).toBeUndefined();
    expect(s.seen[0]?.headers['user-agent']).toMatch(/^herd\//);
    expect(s.seen[1]?.headers).toMatchObject({ 'if-none-match': '"c1"' });
    expect(s.seen[1]?.headers['if-modified-since']).toBeUndefined();
  });

  it('without an ETag, sends its Last-Modified back as If-Modified-Since; a changed channel comes back whole', async () => {
    const s = await scripted(
      (_req, res) => res.writeHead(200, { 'last-modified': LAST_MODIFIED }).end(channel('v1')),
      (_req, res) => res.writeHead(304).end(),
      (_req, res) => res.writeHead(200, { 'last-modified': 'Tue, 01 Dec 2026 13:09:00 GMT' }).end(channel('v2')),
    );
    const sources = new Sources({ stores: [store(s.url)], log: silentLogger() });
    for (const release of ['v1', 'v1', 'v2']) expect(await sources.channel('web')).toMatchObject({ kind: 'found', channel: { release } });
    expect(s.seen.map((r) => r.headers['if-modified-since'])).toEqual([undefined, LAST_MODIFIED, LAST_MODIFIED]);
    expect(s.seen.every((r) => r.headers['if-none-match'] === undefined)).toBe(true);
  });

  it('a 404 is not found: no channel, a release not published', async () => {
    const s = await scripted((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>'));
    expect(await store(s.url).getChannel('web')).toEqual({ kind: 'missing' });
    await expect(store(s.url).getManifest('web', 'v1')).rejects.toBeInstanceOf(NotFoundError);
    expect(s.seen).toHaveLength(2);
  });

  it('retries a 5xx, 3 attempts in all, then names the URL and the status', async () => {
    const s = await scripted(
      (_req, res) => res.writeHead(502).end('bad gateway'),
      (_req, res) => res.writeHead(503).end(),
      (_req, res) => res.writeHead(500).end(),
    );
    const err = await store(s.url).getChannel('web').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toBe(`cannot read ${s.url}/roles/web/channel.json: InternalError (HTTP 500)`);
    expect(s.seen).toHaveLength(3);
  });

  it('a 5xx then a good answer: the read succeeds', async () => {
    const s = await scripted((_req, res) => res.writeHead(503).end(), (_req, res) => res.writeHead(200).end(channel('v1')));
    expect(await store(s.url).getChannel('web')).toMatchObject({ kind: 'found', channel: { release: 'v1' } });
    expect(s.seen).toHaveLength(2);
  });

  it('does not follow a redirect: an answer from elsewhere is not this source\'s', async () => {
    const s = await scripted((_req, res) => res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }).end());
    await expect(store(s.url).getChannel('web')).rejects.toThrow(/HTTP 302/);
    expect(s.seen).toHaveLength(1);
  });

  it('refuses a document past the size limit, whatever the server says', async () => {
    const s = await scripted((_req, res) => res.writeHead(200).end(' '.repeat(1024 * 1024 + 1)));
    await expect(store(s.url).getChannel('web')).rejects.toThrow(/larger than 1048576 bytes, refused/);
  });

  it('a server that accepts and never answers fails the read within the deadline, naming the URL', { timeout: 20_000 }, async () => {
    const s = await scripted(() => { /* never answers */ });
    const started = Date.now();
    await expect(store(s.url).getChannel('web')).rejects.toThrow(`cannot reach ${s.url}/roles/web/channel.json: no answer within 10s`);
    expect(Date.now() - started).toBeLessThan(12_000);
  });
});

describe('writes with HTTP sources', () => {
  const report = {
    schema: 'herd/instance@1' as const, instanceId: 'i-1', role: 'web', az: 'z', region: 'r', release: null, desired: null,
    state: 'booting' as const, healthy: false, lastError: null, failedReleases: [], agentVersion: '0', updatedAt: '2026-12-01T13:08:04.890Z',
  };

  it('an HTTP source sends no write: it is refused before any request', async () => {
    const s = await scripted((_req, res) => res.writeHead(200).end());
    await expect(store(s.url).putReport(report)).rejects.toThrow(`${s.url} is a read-only HTTP source: it takes no PUT`);
    expect(s.seen).toHaveLength(0);
  });

  it('Sources.write skips HTTP sources for the next one, and with none that takes writes says so once', async () => {
    const s = await scripted((_req, res) => res.writeHead(200).end());
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });
    const written: string[] = [];
    const bucket = new ObjectStore({ source: { bucket: 'fleet', prefix: 'herd', endpoint: s.url }, log: silentLogger() });
    const mixed = new Sources({ stores: [store(`${s.url}/a`), bucket], log });
    await mixed.write('instance report write', async (st) => { written.push(st.name); });
    expect(written).toEqual([bucket.name]);

    const readOnly = new Sources({ stores: [store(`${s.url}/a`), store(`${s.url}/b`)], log });
    for (let i = 0; i < 3; i++) await readOnly.write('instance report write', async (st) => { written.push(st.name); });
    expect(written).toEqual([bucket.name]);
    expect(lines.filter((l) => String(l.msg).startsWith('no source takes writes'))).toEqual([
      expect.objectContaining({ level: 40, sources: [`${s.url}/a`, `${s.url}/b`], msg: 'no source takes writes (HTTP sources are read-only): skipping each instance report write' }),
    ]);
    expect(s.seen).toHaveLength(0);
  });
});
