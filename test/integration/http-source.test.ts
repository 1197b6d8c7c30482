// HTTP(S) sources ({"url": ...}): a static copy of the store, served over plain HTTP, as a CDN
// in front of the bucket or a file server outside the provider would serve it. The copy is
// made key by key through the S3 API from what `herd publish` and `herd roll` wrote to the local
// S3 server. Real agents read it: with nothing else they boot, run and follow a roll, polling
// with conditional GETs that cost 304s while idle; a blob tampered with there is refused by its
// digest and fetched from the bucket listed next, which also takes the reports; a server with
// Last-Modified but no ETag (python3's http.server) is asked If-Modified-Since.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hexOf } from '../../agent/store/layout.ts';
import { copyStoreToDir, startStaticServer, type StaticServer } from '../fixtures/static-server.ts';
import {
  HELLO_APP, HELLO_CONFIG, S3_ENV, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace,
  type AgentProcess, type Workspace,
} from '../helpers/harness.ts';
import { codeVariant } from '../helpers/releases.ts';

interface Ports { healthPort: number; appPort: number }

describe('an HTTP source', () => {
  let ws: Workspace;
  let www: string;
  let server: StaticServer;
  let url: string;
  let python: ChildProcess | undefined;
  const agents: AgentProcess[] = [];
  const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...ws.storeFlags, ...args.slice(1)]);
  const publishAndRoll = async (release: string, code: string) => {
    const p = await herd('publish', '--role', 'web', '--code', code, '--config', HELLO_CONFIG, '--release', release);
    expect(p.code, p.stderr).toBe(0);
    const r = await herd('roll', '--role', 'web', '--release', release);
    expect(r.code, r.stderr).toBe(0);
  };
  /** The store's objects into the served directory (channels last), or only those `filter` keeps. */
  const copy = (filter?: (key: string) => boolean) =>
    copyStoreToDir({ client: ws.client(), bucket: ws.bucket, prefix: 'herd', dir: www, ...(filter ? { filter } : {}) });
  const status = async (p: Ports) => JSON.parse((await get(`http://127.0.0.1:${p.healthPort}/status`)).body);
  const waitRunning = (p: Ports, release: string) => waitUntil(`running ${release}`, async () => {
    const s = await status(p);
    return s.release === release && s.healthy && s.state === 'running' ? s : undefined;
  }, 45_000);
  const fetchedFrom = (a: AgentProcess, release: string) => a.lines.filter((l) => l.msg === 'release fetched and verified' && l.release === release).map((l) => l.source);

  /** An agent of role web with `sources`, short polls and drains; its ports. */
  async function launch(name: string, sources: unknown[], env: Record<string, string>): Promise<{ agent: AgentProcess; ports: Ports }> {
    const ports = { healthPort: await freePort(), appPort: await freePort() };
    const file = join(ws.dir, `${name}.json`);
    await writeFile(file, JSON.stringify({
      sources, dataDir: join(ws.dir, `${name}-data`), healthHost: '127.0.0.1', appUser: null, pollIntervalS: 0.3, drainS: 0.3,
      identity: { provider: 'static', instanceId: `i-${name}`, role: 'web', az: 'z1', region: 'r1' }, ...ports,
    }));
    const agent = startAgent(file, env);
    agents.push(agent);
    return { agent, ports };
  }

  beforeAll(async () => {
    ws = await workspace();
    www = join(ws.dir, 'www');
    await publishAndRoll('r1', HELLO_APP);
    await copy();
    server = await startStaticServer({ root: www, etag: true });
    url = `${server.url}/herd`;
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    python?.kill();
    await server?.close();
    await ws?.close();
  });

  it('alone, without AWS credentials: the agent boots, runs the release, polls with 304s while idle, and follows a roll', async () => {
    const { agent, ports } = await launch('http-only', [{ url }], cleanEnv());
    expect(await waitRunning(ports, 'r1')).toMatchObject({ sources: [url] });
    expect(fetchedFrom(agent, 'r1')).toEqual([url]);

    const idle = server.count({ path: 'channel.json', status: 304 });
    await waitUntil('three polls answered 304', async () => server.count({ path: 'channel.json', status: 304 }) >= idle + 3 || undefined);
    const polls = server.requests.filter((r) => r.path === '/herd/roles/web/channel.json');
    expect(polls[0]).toMatchObject({ status: 200, ifNoneMatch: undefined });
    expect(polls.slice(1).every((r) => r.ifNoneMatch?.startsWith('"') && r.ifModifiedSince === undefined)).toBe(true);

    await publishAndRoll('r2', await codeVariant(ws.dir, 'r2'));
    await copy();
    await waitRunning(ports, 'r2');
    expect(fetchedFrom(agent, 'r2')).toEqual([url]);
    expect(JSON.parse((await get(`http://127.0.0.1:${ports.appPort}/`)).body).release).toBe('r2');

    // Unsigned reads only; the reports it could not write were said to be skipped once, not each time.
    expect(server.requests.every((r) => r.method === 'GET' && !r.authorization)).toBe(true);
    expect(agent.lines.filter((l) => String(l.msg).startsWith('no source takes writes'))).toHaveLength(1);
    expect(agent.lines.some((l) => l.msg === 'cannot write the instance report')).toBe(false);
  });

  it('a blob tampered with on it is refused by its digest, and fetched from the bucket listed next, which takes the reports', async () => {
    const bucket = { bucket: ws.bucket, endpoint: ws.s3.endpoint };
    const { agent, ports } = await launch('mixed', [{ url }, bucket], cleanEnv(S3_ENV));
    await waitRunning(ports, 'r2');
    expect(fetchedFrom(agent, 'r2')).toEqual([url]);

    await publishAndRoll('r3', await codeVariant(ws.dir, 'r3'));
    await copy((key) => !key.endsWith('/channel.json'));
    const { manifest } = await ws.store().getManifest('web', 'r3');
    const blob = join(www, 'herd/blobs/sha256', hexOf(manifest.code.digest));
    const bytes = await readFile(blob);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] as number) ^ 0xff;
    await writeFile(blob, bytes);
    await copy((key) => key.endsWith('/channel.json'));

    await waitRunning(ports, 'r3');
    expect(fetchedFrom(agent, 'r3')).toEqual([ws.store().name]);
    const refused = agent.lines.find((l) => l.msg === 'fetch failed; trying the next source' && l.release === 'r3');
    expect(refused).toMatchObject({ source: url, err: expect.stringContaining('blob digest mismatch') });
    expect(server.count({ path: hexOf(manifest.code.digest), status: 200 })).toBeGreaterThan(0);

    await waitUntil('its report in the bucket: running r3, healthy', async () => {
      const reports = await ws.store().listReports('web');
      return reports.find((r) => 'instanceId' in r && r.instanceId === 'i-mixed' && r.release === 'r3' && r.state === 'running' && r.healthy);
    });
    expect(server.count({ method: 'PUT' })).toBe(0);
    expect(agent.lines.some((l) => String(l.msg).startsWith('no source takes writes'))).toBe(false);
  });

  it('herd pull --url bakes the channel\'s release from it', async () => {
    await copy(); // the r3 blob as published
    const dataDir = join(ws.dir, 'pulled');
    const pulled = await runHerd(['pull', '--url', url, '--role', 'web', '--data-dir', dataDir, '--json'], cleanEnv());
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(JSON.parse(pulled.stdout)).toMatchObject({ release: 'r3', fetched: true });
    const mixed = await runHerd(['pull', '--url', url, '--bucket', ws.bucket, '--role', 'web', '--data-dir', dataDir], cleanEnv());
    expect(mixed).toMatchObject({ code: 2, stderr: 'herd: --url names the whole source: give it without --bucket\n' });
  });

  it('python3 -m http.server (Last-Modified, no ETag) is polled with If-Modified-Since, answered 304, and a roll still comes through', async () => {
    await copy();
    const port = await freePort();
    const log: string[] = [];
    python = spawn('python3', ['-u', '-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', www], { stdio: ['ignore', 'ignore', 'pipe'] });
    python.stderr?.on('data', (d: Buffer) => log.push(...d.toString().split('\n').filter(Boolean)));
    await waitUntil('python3 serving', async () => (await get(`http://127.0.0.1:${port}/herd/roles/web/channel.json`)).status === 200 || undefined);
    const pyUrl = `http://127.0.0.1:${port}/herd`;
    const { agent, ports } = await launch('python', [{ url: pyUrl }], cleanEnv());
    await waitRunning(ports, 'r3');
    expect(fetchedFrom(agent, 'r3')).toEqual([pyUrl]);

    // python answers 304 only to an If-Modified-Since that comes without an If-None-Match.
    const notModified = () => log.filter((l) => l.includes('"GET /herd/roles/web/channel.json HTTP/1.1" 304')).length;
    await waitUntil('three polls answered 304', async () => notModified() >= 3 || undefined);

    await publishAndRoll('r4', await codeVariant(ws.dir, 'r4'));
    await copy();
    await waitRunning(ports, 'r4');
    expect(fetchedFrom(agent, 'r4')).toEqual([pyUrl]);
    expect(log.filter((l) => /"(PUT|POST|DELETE|HEAD) /.test(l))).toEqual([]);
  });
});
