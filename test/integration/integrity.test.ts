// Nothing from the store is trusted (SPEC "Bad input and faults"), proved against a real
// agent: each hostile object is written straight into the store, bypassing `herd publish`
// and `herd roll` and their checks, and the channel pointed at it. Each is refused with a
// clear reason in the log and /status, nothing lands in the data directory (no release, no
// staging leftover, no blob) or outside it, and the app that serves keeps serving.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.ts';
import { ObjectStore } from '../../agent/store/object-store.ts';
import type { Channel } from '../../agent/store/schemas.ts';
import { buildArchive, type SpecEntry } from '../fixtures/archives/hostile.ts';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.ts';
import {
  HELLO_APP, HELLO_CONFIG, S3_ENV, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace,
  type AgentProcess, type Workspace,
} from '../helpers/harness.ts';
import { codeVariant } from '../helpers/releases.ts';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const MAX_BUNDLE_BYTES = 256 * 1024;

/**
 * A gzip'd tar of the sample app with VERSION = `version`, stored (level 0) with fixed
 * times: two versions of the same length give archives of the same length, both valid.
 */
async function storedArchive(file: string, version: string): Promise<void> {
  const script = [
    'import io, sys, tarfile',
    'out, app, version = sys.argv[1], sys.argv[2], sys.argv[3].encode()',
    "files = [('herd.json', open(app + '/herd.json', 'rb').read()), ('server.mjs', open(app + '/server.mjs', 'rb').read()), ('VERSION', version)]",
    "with tarfile.open(out, 'w:gz', compresslevel=0, format=tarfile.GNU_FORMAT) as t:",
    '    for name, data in files:',
    '        info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 946684800; info.mode = 0o644',
    '        t.addfile(info, io.BytesIO(data))',
  ].join('\n');
  await run('python3', ['-c', script, file, HELLO_APP, version]);
}

describe('hostile objects in the store', () => {
  let ws: Workspace;
  let proxy: FaultProxy;
  let agent: AgentProcess;
  let s3: S3Client;
  let store: ObjectStore;
  let healthPort: number;
  let appPort: number;
  let dataDir: string;
  let runSpec: Record<string, unknown>;
  let serving = 'v1';
  const traffic = { ok: 0, failed: [] as string[], running: true, loop: Promise.resolve() };
  const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...ws.storeFlags, ...args.slice(1)]);
  const status = async () => JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body);
  const put = (key: string, body: Buffer | string) => s3.send(new PutObjectCommand({ Bucket: ws.bucket, Key: `herd/${key}`, Body: body }));

  /** Points the channel at `release` as `herd roll` would, without its check that the release is sound. */
  async function pointChannelAt(release: string): Promise<void> {
    const read = await store.getChannel('web');
    if (read.kind !== 'found') throw new Error('no channel');
    const now = new Date().toISOString();
    const channel: Channel = { ...read.channel, release, previous: read.channel.release, generation: read.channel.generation + 1, updatedAt: now, rollout: { ...read.channel.rollout, startedAt: now } };
    await store.putChannel(channel);
  }

  /** Uploads `bytes` as a blob and a manifest for it (unchecked), and rolls to it. Returns the digest's hex. */
  async function publishRaw(id: string, bytes: Buffer, manifest: Record<string, unknown> = {}): Promise<string> {
    const hex = sha256(bytes);
    await put(`blobs/sha256/${hex}`, bytes);
    await put(`roles/web/releases/${id}.json`, JSON.stringify({
      schema: 'herd/release@1', role: 'web', id, createdAt: new Date().toISOString(),
      code: { digest: `sha256:${hex}`, size: bytes.length }, config: null, run: runSpec, ...manifest,
    }));
    await pointChannelAt(id);
    return hex;
  }

  /** Waits for the refusal of `id` in /status and the log; checks the app serves on. */
  async function expectRefused(id: string, reason: RegExp): Promise<string> {
    const failedBefore = traffic.failed.length;
    const s = await waitUntil(`${id} refused`, async () => {
      const st = await status();
      return st.desired === id && st.lastError?.includes(id) && reason.test(st.lastError) ? st : undefined;
    });
    expect(s).toMatchObject({ release: serving, healthy: true, state: 'running' });
    expect(JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body).release).toBe(serving);
    const refusal = agent.lines.find((l) => l.msg === 'fetch failed; trying the next source' && l.release === id);
    expect(refusal?.err).toMatch(reason);
    expect(refusal?.level).toBe(40); // warn
    expect(traffic.failed.slice(failedBefore)).toEqual([]);
    return s.lastError;
  }

  /**
   * Back to the release that serves, and a poll that saw it (so the agent's retry backoff
   * starts afresh). Then no retry of `id` can be under way: nothing of it may be on disk.
   */
  async function restore(id: string, hex?: string): Promise<void> {
    await pointChannelAt(serving);
    await waitUntil('the agent back on the channel', async () => (await status()).desired === serving || undefined);
    const releases = await readdir(join(dataDir, 'releases'));
    expect(releases.filter((n) => n === id || n.startsWith('.'))).toEqual([]);
    const blobs = await readdir(join(dataDir, 'blobs'));
    expect(blobs.filter((n) => !/^[0-9a-f]{64}$/.test(n) || n === hex)).toEqual([]);
  }

  beforeAll(async () => {
    ws = await workspace();
    proxy = await startFaultProxy({ upstream: ws.s3.endpoint });
    s3 = ws.client();
    store = new ObjectStore({ source: ws.source, log: silentLogger(), client: s3 });
    runSpec = JSON.parse(await readFile(join(HELLO_APP, 'herd.json'), 'utf8'));
    expect((await herd('publish', '--role', 'web', '--code', HELLO_APP, '--config', HELLO_CONFIG, '--release', 'v1')).code).toBe(0);
    expect((await herd('roll', '--role', 'web', '--release', 'v1')).code).toBe(0);
    [healthPort, appPort] = [await freePort(), await freePort()];
    dataDir = join(ws.dir, 'data');
    const configFile = join(ws.dir, 'agent.json');
    await writeFile(configFile, JSON.stringify({
      sources: [{ bucket: ws.bucket, endpoint: proxy.url }], dataDir, healthPort, healthHost: '127.0.0.1', appPort, appUser: null,
      pollIntervalS: 0.5, drainS: 0.5, limits: { maxBundleBytes: MAX_BUNDLE_BYTES },
      identity: { provider: 'static', instanceId: 'i-integrity', role: 'web', az: 'z1', region: 'r1' },
    }));
    agent = startAgent(configFile, cleanEnv(S3_ENV));
    await waitUntil('v1 running', async () => (await status()).release === 'v1' || undefined, 45_000);
    traffic.loop = (async () => {
      while (traffic.running) {
        try {
          if ((await get(`http://127.0.0.1:${healthPort}/healthz`)).status === 200) {
            const res = await get(`http://127.0.0.1:${appPort}/`);
            if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
            traffic.ok += 1;
          }
        } catch (err) {
          traffic.failed.push((err as Error).message);
        }
        await sleep(40);
      }
    })();
  });

  afterAll(async () => {
    traffic.running = false;
    await traffic.loop;
    await agent?.stop();
    if (process.env.HERD_TEST_DUMP) await writeFile(process.env.HERD_TEST_DUMP, agent.lines.map((l) => JSON.stringify(l)).join('\n'));
    await proxy?.close();
    await ws?.close();
  });

  it('a blob overwritten in the store with other bytes of the same size (a valid archive) is refused on its digest', async () => {
    const good = join(ws.dir, 'good', 'code.tar.gz');
    const evil = join(ws.dir, 'evil', 'code.tar.gz');
    await mkdir(join(ws.dir, 'good'));
    await mkdir(join(ws.dir, 'evil'));
    await storedArchive(good, 'good');
    await storedArchive(evil, 'evil');
    const [goodBytes, evilBytes] = [await readFile(good), await readFile(evil)];
    expect(evilBytes.length).toBe(goodBytes.length);
    expect((await herd('publish', '--role', 'web', '--code', good, '--release', 'tampered')).code).toBe(0);
    const hex = sha256(goodBytes);
    await put(`blobs/sha256/${hex}`, evilBytes);
    await pointChannelAt('tampered');
    const why = await expectRefused('tampered', /digest mismatch/);
    expect(why).toContain(`expected sha256:${hex}, got sha256:${sha256(evilBytes)}`);
    await restore('tampered', hex);
  });

  it('a byte flipped on the wire is refused, and once the wire is clean the release runs', async () => {
    expect((await herd('publish', '--role', 'web', '--code', await codeVariant(ws.dir, 'wire'), '--config', HELLO_CONFIG, '--release', 'wire')).code).toBe(0);
    await proxy.set({ mode: 'corrupt', only: '/blobs/' });
    await pointChannelAt('wire');
    await expectRefused('wire', /digest mismatch|corrupt gzip|tar/i);
    expect(proxy.count({ fault: 'corrupt' })).toBeGreaterThan(0);
    await proxy.set({ mode: 'pass' });
    await waitUntil('wire running', async () => {
      const s = await status();
      return s.release === 'wire' && s.healthy || undefined;
    });
    serving = 'wire';
  });

  it('a manifest that does not parse is refused', async () => {
    await put('roles/web/releases/badjson.json', '{"schema": "herd/release@1", "role": "web", ');
    await pointChannelAt('badjson');
    await expectRefused('badjson', /JSON/i);
    await restore('badjson');
  });

  it('a manifest that fails its schema is refused, before any download', async () => {
    const blobGets = proxy.count({ path: '/blobs/' });
    await put('roles/web/releases/badschema.json', JSON.stringify({
      schema: 'herd/release@1', role: 'web', id: 'badschema', createdAt: new Date().toISOString(),
      code: { digest: 'md5:0123', size: -1 }, config: null, run: { ...runSpec, command: [] },
    }));
    await pointChannelAt('badschema');
    const why = await expectRefused('badschema', /code\.digest|digest/);
    expect(why).toMatch(/run\.command|command/);
    expect(proxy.count({ path: '/blobs/' })).toBe(blobGets);
    await restore('badschema');
  });

  it('a channel that does not parse, or fails its schema, is refused and the app serves on', async () => {
    for (const [body, reason] of [
      ['{"schema": "herd/channel@1", "release": ', /JSON/i],
      [JSON.stringify({ schema: 'herd/channel@1', role: 'web', release: '../../etc', previous: null, paused: false, generation: 99, updatedAt: new Date().toISOString(), updatedBy: 'x', rollout: { percent: 100, waves: 1, waveIntervalS: 0, startedAt: new Date().toISOString() } }), /release/],
    ] as const) {
      const good = await store.getChannel('web');
      await put('roles/web/channel.json', body);
      const s = await waitUntil('the channel refused', async () => {
        const st = await status();
        return st.lastError?.includes('channel.json') && reason.test(st.lastError) ? st : undefined;
      });
      expect(s).toMatchObject({ release: serving, healthy: true, state: 'running' });
      expect(traffic.failed).toEqual([]);
      if (good.kind === 'found') await store.putChannel({ ...good.channel, generation: good.channel.generation + 1 });
    }
    await restore('etc');
  });

  it('a bundle over limits.maxBundleBytes is refused from its manifest, before any download', async () => {
    const big = await codeVariant(ws.dir, 'big');
    await writeFile(join(big, 'payload.bin'), randomBytes(2 * MAX_BUNDLE_BYTES));
    expect((await herd('publish', '--role', 'web', '--code', big, '--release', 'big')).code).toBe(0);
    const blobGets = proxy.count({ path: '/blobs/' });
    await pointChannelAt('big');
    await expectRefused('big', /over limits\.maxBundleBytes/);
    expect(proxy.count({ path: '/blobs/' })).toBe(blobGets);
    await restore('big');
  });

  it('a bundle bigger than its manifest says is cut off at the promised size', async () => {
    const bytes = randomBytes(MAX_BUNDLE_BYTES - 1024);
    const hex = await publishRaw('liar', bytes, { code: { digest: `sha256:${sha256(bytes)}`, size: 4096 } });
    await expectRefused('liar', /too large, expected 4096 bytes/);
    await restore('liar', hex);
  });

  // Archives no sane tool writes, built by hand (Python's tarfile), published straight to the store.
  const herdJson: SpecEntry = { name: 'herd.json', type: 'file', data: '{"command":["node","server.mjs"],"port":8080,"health":{"path":"/healthz"}}' };
  const hostile: Array<[string, SpecEntry[], RegExp]> = [
    ["an entry '../../x'", [herdJson, { name: '../../x', type: 'file', data: 'escaped\n' }], /'\.\.'/],
    ['a symlink pointing out, then a file through it', [herdJson, { name: 'escape', type: 'symlink', target: '../../../..' }, { name: 'escape/sentinel.txt', type: 'file', data: 'overwritten\n' }], /symlink/],
    ['an absolute path', [herdJson, { name: '/tmp/herd-integrity-pwned', type: 'file', data: 'escaped\n' }], /absolute/],
    ['a hard link to a file outside', [herdJson, { name: 'passwd', type: 'hardlink', target: '../../../../../../etc/passwd' }], /link/],
    ['a character device', [herdJson, { name: 'null', type: 'chr' }], /character device/],
  ];

  it.each(hostile)('a hostile archive with %s is refused and writes nothing outside its staging directory', async (_name, entries, reason) => {
    const sentinel = join(ws.dir, 'sentinel.txt');
    await writeFile(sentinel, 'untouched\n');
    const id = `hostile-${hostile.findIndex(([n]) => n === _name)}`;
    const file = join(ws.dir, `${id}.tar.gz`);
    await buildArchive(file, entries);
    const hex = await publishRaw(id, await readFile(file));
    await expectRefused(id, reason);
    await restore(id, hex);
    expect(await readFile(sentinel, 'utf8')).toBe('untouched\n');
    for (const escaped of [join(dataDir, 'x'), join(dataDir, 'releases', 'x'), join(ws.dir, 'x'), '/tmp/herd-integrity-pwned']) {
      await expect(stat(escaped)).rejects.toThrow();
    }
  });

  it('kept serving every request through all of it, and a good release still rolls', async () => {
    expect((await herd('publish', '--role', 'web', '--code', await codeVariant(ws.dir, 'after'), '--release', 'after')).code).toBe(0);
    await pointChannelAt('after');
    await waitUntil('after running', async () => {
      const s = await status();
      return s.release === 'after' && s.healthy && s.lastError === null || undefined;
    });
    expect(traffic.failed).toEqual([]);
    expect(traffic.ok).toBeGreaterThan(50);
    expect((await readdir(join(dataDir, 'releases'))).filter((n) => n.startsWith('.'))).toEqual([]);
    expect((await readdir(join(dataDir, 'blobs'))).filter((n) => !/^[0-9a-f]{64}$/.test(n))).toEqual([]);
  });
});
