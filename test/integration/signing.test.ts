// Signed releases end to end with the built CLI, a real S3 server and real agents: keygen,
// publish --sign-key, roll --sign-key; an agent with trustedKeys runs only releases whose
// manifest signature verifies, and keeps serving the old app when one does not; an agent
// without trustedKeys runs unsigned releases as before. (Signed channels: signed-channels.test.ts.)
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_S3_CREDENTIALS } from '../../support/local-s3.ts';
import { createS3Client } from '../../agent/store/client.ts';
import {
  HELLO_APP, HELLO_CONFIG, S3_ENV, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace,
  type AgentProcess, type Workspace,
} from '../helpers/harness.ts';
import { codeVariant } from '../helpers/releases.ts';

interface Key { private: string; public: string; trustedKey: string; keyId: string }

let ws: Workspace;
let s3: S3Client;
let release: Key;
let other: Key;
const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...ws.storeFlags, ...args.slice(1)]);

async function keygen(name: string): Promise<Key> {
  const result = await runHerd(['keygen', '--out', join(ws.dir, 'keys'), '--name', name, '--json']);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout);
}

async function publishAndRoll(role: string, id: string, code: string, signKey?: string): Promise<number> {
  const p = await herd('publish', '--role', role, '--code', code, '--config', HELLO_CONFIG, '--release', id, ...(signKey ? ['--sign-key', signKey] : []));
  expect(p.stderr.includes('herd:')).toBe(false);
  expect(p.code).toBe(0);
  // The channel is always signed: agents with trustedKeys follow only a signed channel.
  const r = await herd('roll', '--role', role, '--release', id, '--sign-key', release.private, '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).channel.generation;
}

async function startAgentFor(name: string, role: string, trustedKeys: string[]) {
  const [healthPort, appPort] = [await freePort(), await freePort()];
  const dataDir = join(ws.dir, `data-${name}`);
  const configFile = join(ws.dir, `agent-${name}.json`);
  await writeFile(configFile, JSON.stringify({
    sources: [{ bucket: ws.bucket, endpoint: ws.s3.endpoint }], dataDir,
    healthPort, healthHost: '127.0.0.1', appPort, appUser: null, pollIntervalS: 0.5, drainS: 0.5, trustedKeys,
    identity: { provider: 'static', instanceId: `i-${name}`, role, az: 'z1', region: 'r1' },
  }));
  const agent = startAgent(configFile, cleanEnv(S3_ENV));
  const status = async () => JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body);
  const app = async () => JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body);
  const waitRunning = (id: string) => waitUntil(`${name} running ${id}`, async () => {
    const s = await status();
    return s.release === id && s.healthy && s.state === 'running' ? s : undefined;
  }, 45_000);
  return { agent, dataDir, healthPort, status, app, waitRunning };
}

beforeAll(async () => {
  ws = await workspace();
  s3 = createS3Client({ bucket: ws.bucket, prefix: 'herd', endpoint: ws.s3.endpoint }, LOCAL_S3_CREDENTIALS);
  release = await keygen('release');
  other = await keygen('other');
});
afterAll(async () => { await ws?.close(); });

describe('herd keygen', () => {
  it('writes the key pair once and prints the trustedKeys line', async () => {
    expect(release.trustedKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(await readFile(release.public, 'utf8')).toContain('BEGIN PUBLIC KEY');
    const again = await runHerd(['keygen', '--out', join(ws.dir, 'keys'), '--name', 'release']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('release.key exists; keygen never overwrites a key');
    const human = await runHerd(['keygen', '--out', join(ws.dir, 'keys'), '--name', 'human']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
  });

  it('an agent config with a key that does not parse exits 2 naming trustedKeys.N', async () => {
    const file = join(ws.dir, 'bad-keys.json');
    await writeFile(file, JSON.stringify({ sources: [{ bucket: ws.bucket }], trustedKeys: [release.trustedKey, 'not-a-key'] }));
    const { code, stderr } = await runHerd(['agent', '--config', file]);
    expect(code).toBe(2);
    expect(stderr).toContain('trustedKeys.1');
  });
});

describe('an agent with trustedKeys', () => {
  let a: Awaited<ReturnType<typeof startAgentFor>>;

  beforeAll(async () => {
    await publishAndRoll('web', 'v1', HELLO_APP, release.private);
    a = await startAgentFor('signed', 'web', [release.trustedKey]);
    await a.waitRunning('v1');
  });
  afterAll(async () => { await a?.agent.stop(); });

  /** Rolls `id` and waits until the agent names it in lastError; the old app serves throughout. */
  async function expectRefused(id: string, reason: string) {
    const s = await waitUntil(`${id} refused`, async () => {
      const st = await a.status();
      return typeof st.lastError === 'string' && st.lastError.includes(reason) ? st : undefined;
    });
    expect(s.lastError).toContain(`cannot fetch release ${id}`);
    expect(s.release).toBe('v1');
    expect((await get(`http://127.0.0.1:${a.healthPort}/healthz`)).status).toBe(200);
    expect((await a.app()).release).toBe('v1');
    expect(a.agent.lines.some((l) => l.msg === 'fetch failed; trying the next source' && String(l.err).includes(reason))).toBe(true);
    // Nothing of the refused release was written: no release directory, no staging left over.
    expect((await readdir(join(a.dataDir, 'releases'))).sort()).toEqual(['v1']);
    // Back to v1 on the channel, so the next case starts from a clean poll (no error backoff).
    const generation = await publishAndRoll('web', 'v1', HELLO_APP, release.private);
    await waitUntil('the agent saw the channel again', async () => (await a.status()).channelGeneration === generation || undefined);
  }

  it('runs a signed release, keeping its signature beside the manifest on disk', async () => {
    const dir = join(a.dataDir, 'releases', 'v1');
    expect(JSON.parse(await readFile(join(dir, 'manifest.json.sig'), 'utf8'))).toMatchObject({ schema: 'herd/signature@1', alg: 'ed25519', keyId: release.keyId });
    expect(a.agent.lines.some((l) => l.msg === 'release signature verified' && l.keyId === release.keyId && l.release === 'v1')).toBe(true);
  });

  it('refuses an unsigned release; the old app keeps serving', async () => {
    await publishAndRoll('web', 'unsigned', await codeVariant(ws.dir, 'unsigned'));
    await expectRefused('unsigned', 'release web/unsigned is not signed');
  });

  it('refuses a release signed by a key it does not trust', async () => {
    await publishAndRoll('web', 'by-other', await codeVariant(ws.dir, 'by-other'), other.private);
    await expectRefused('by-other', `release web/by-other is signed by key ${other.keyId}, which is not in trustedKeys`);
  });

  it('refuses a manifest changed in the store after it was signed', async () => {
    const code = await codeVariant(ws.dir, 'tampered');
    expect((await herd('publish', '--role', 'web', '--code', code, '--release', 'tampered', '--sign-key', release.private)).code).toBe(0);
    const key = 'herd/roles/web/releases/tampered.json';
    const body = await (await s3.send(new GetObjectCommand({ Bucket: ws.bucket, Key: key }))).Body!.transformToString();
    const evil = body.replace('"server.mjs"', '"evil.mjs"');
    expect(evil).not.toBe(body);
    await s3.send(new PutObjectCommand({ Bucket: ws.bucket, Key: key, Body: evil }));
    expect((await herd('roll', '--role', 'web', '--release', 'tampered', '--sign-key', release.private)).code).toBe(0);
    await expectRefused('tampered', `release web/tampered: the signature by key ${release.keyId} does not match the manifest's bytes`);
  });

  it('then runs the next correctly signed release', async () => {
    await publishAndRoll('web', 'v2', await codeVariant(ws.dir, 'v2'), release.private);
    await a.waitRunning('v2');
    expect((await a.app()).release).toBe('v2');
    expect(await readFile(join(a.dataDir, 'releases', 'v2', 'manifest.json.sig'), 'utf8')).toContain(release.keyId);
  });
});

describe('an agent without trustedKeys', () => {
  it('runs unsigned releases as before', async () => {
    await publishAndRoll('api', 'plain', HELLO_APP);
    const b = await startAgentFor('plain', 'api', []);
    try {
      await b.waitRunning('plain');
      expect((await b.app()).release).toBe('plain');
    } finally {
      await b.agent.stop();
    }
  });
});

describe('a baked release with trustedKeys', () => {
  // herd pull saves no signature: the agent has a source vouch for it before running it. Any
  // source may: the check used to ask only the first one, so a dead primary kept it down.
  it('boots from a data directory baked by herd pull when the first source is down, verified by the next', async () => {
    const p = await herd('publish', '--role', 'bake', '--code', HELLO_APP, '--release', 'b1', '--sign-key', release.private);
    expect(p.code, p.stderr).toBe(0);
    const dataDir = join(ws.dir, 'data-baked');
    const pulled = await herd('pull', '--role', 'bake', '--release', 'b1', '--data-dir', dataDir);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(await readdir(join(dataDir, 'releases', 'b1'))).not.toContain('manifest.json.sig');
    const [healthPort, appPort, deadPort] = [await freePort(), await freePort(), await freePort()];
    const configFile = join(ws.dir, 'agent-baked.json');
    await writeFile(configFile, JSON.stringify({
      sources: [{ bucket: ws.bucket, endpoint: `http://127.0.0.1:${deadPort}` }, { bucket: ws.bucket, endpoint: ws.s3.endpoint }],
      dataDir, healthPort, healthHost: '127.0.0.1', appPort, appUser: null, pollIntervalS: 0.5, trustedKeys: [release.trustedKey],
      identity: { provider: 'static', instanceId: 'i-baked', role: 'bake', az: 'z1', region: 'r1' },
    }));
    const agent = startAgent(configFile, cleanEnv(S3_ENV));
    try {
      await waitUntil('the baked release running', async () => (await get(`http://127.0.0.1:${healthPort}/healthz`)).status === 200 || undefined, 30_000);
      expect(JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body).release).toBe('b1');
      expect(agent.lines.some((l) => l.msg === 'starting the last-known-good release from the data directory')).toBe(true);
      expect(await readFile(join(dataDir, 'releases', 'b1', 'manifest.json.sig'), 'utf8')).toContain(release.keyId);
    } finally {
      expect(await agent.stop()).toBe(0);
    }
  });
});
