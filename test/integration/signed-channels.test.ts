// Signed channels with a real agent against a real S3 server, attacked by someone who can
// write the bucket but holds no trusted key: a replayed older signed channel (rollback), an
// expired one (freeze), one that expires while nothing changes, an unsigned one, one changed
// after signing, one signed by another key. The agent refuses each, names the refusal in
// /status, its report and herd status, keeps the app it runs serving (the same process), and
// still refuses after a restart, since the newest generation it trusted is on disk. A
// correctly signed roll is applied, and one above the trusted generation recovers the fleet.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPIRY_SKEW_MS } from '../../agent/signing/channel-trust.ts';
import { parseSigningKey } from '../../agent/signing/keys.ts';
import { encodeSignature, signBytes } from '../../agent/signing/signature.ts';
import { encodeDocument } from '../../agent/store/object-store.ts';
import type { Channel } from '../../agent/store/schemas.ts';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.ts';
import {
  HELLO_CONFIG, S3_ENV, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace, type AgentProcess, type Workspace,
} from '../helpers/harness.ts';
import { codeVariant } from '../helpers/releases.ts';

interface Key { private: string; trustedKey: string; keyId: string }
interface Stored { bytes: Buffer; signature: Buffer | null; channel: Channel }

const ROLE = 'web';
const SIG_KEY = `herd/roles/${ROLE}/channel.json.sig`;
let ws: Workspace;
let proxy: FaultProxy;
let alice: Key;
let mallory: Key;
let agent: AgentProcess;
let configFile: string;
let dataDir: string;
let healthPort: number;
let appPort: number;
let gen1: Stored;
const herd = (...args: string[]) => runHerd([args[0] as string, ...ws.storeFlags, ...args.slice(1)]);

async function keygen(name: string): Promise<Key> {
  const result = await runHerd(['keygen', '--out', join(ws.dir, 'keys'), '--name', name, '--json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

async function stored(): Promise<Stored> {
  const store = ws.store();
  const read = await store.getChannel(ROLE);
  if (read.kind !== 'found') throw new Error('no channel');
  return { bytes: read.bytes, channel: read.channel, signature: (await store.getChannelSignature(ROLE))?.bytes ?? null };
}

/** What someone who can write the bucket does, without any key: put these bytes there (no signature: remove it). */
async function plant(bytes: Buffer, signature: Buffer | null): Promise<void> {
  const store = ws.store();
  if (signature) await store.putChannelSignature(ROLE, signature);
  else await ws.client().send(new DeleteObjectCommand({ Bucket: ws.bucket, Key: SIG_KEY }));
  await store.putChannelBytes(ROLE, bytes);
}

/** A channel signed with a key file, as the test crafts it (herd writes no expired or half-expired channel). */
async function signWith(channel: Channel, key: Key): Promise<{ bytes: Buffer; signature: Buffer }> {
  const bytes = encodeDocument(channel);
  const signer = parseSigningKey(await readFile(key.private, 'utf8'), key.private);
  return { bytes, signature: encodeSignature(signBytes(bytes, signer)) };
}

async function status(): Promise<Record<string, any>> {
  return JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body);
}
const condition = (s: Record<string, any>, type: string) => (s.conditions as Array<Record<string, any>>).find((c) => c.type === type);

/** Waits until the agent refuses the channel for `reason`; it still runs `release` then. */
async function refused(reason: string, release: string): Promise<Record<string, any>> {
  const s = await waitUntil(`the channel refused (${reason}), ${release} serving`, async () => {
    const st = await status();
    return condition(st, 'ChannelTrusted')?.reason === reason && st.release === release && st.healthy ? st : undefined;
  }, 45_000);
  expect(condition(s, 'ChannelTrusted')).toMatchObject({ status: false, reason });
  expect(s.lastError).toMatch(/^channel refused, /);
  expect(s.lastError).toContain('the running app keeps serving');
  return s;
}

async function running(release: string): Promise<Record<string, any>> {
  return waitUntil(`running ${release}`, async () => {
    const s = await status();
    return s.release === release && s.healthy && s.state === 'running' ? s : undefined;
  }, 45_000);
}

/** Requests to the app every 100 ms until stopped: how many were answered, by which release and process. */
function probeApp() {
  const seen = { ok: 0, failed: 0, releases: new Set<string>(), pids: new Set<number>() };
  let on = true;
  const loop = (async () => {
    while (on) {
      try {
        const res = await get(`http://127.0.0.1:${appPort}/`);
        const body = JSON.parse(res.body);
        if (res.status === 200) {
          seen.ok += 1;
          seen.releases.add(body.release);
          seen.pids.add(body.pid);
        } else seen.failed += 1;
      } catch {
        seen.failed += 1;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return { seen, stop: async () => { on = false; await loop; return seen; } };
}
let probe: ReturnType<typeof probeApp>;

beforeAll(async () => {
  ws = await workspace();
  proxy = await startFaultProxy({ upstream: ws.s3.endpoint });
  [alice, mallory] = await Promise.all([keygen('alice'), keygen('mallory')]);
  for (const id of ['v1', 'v2']) {
    const published = await herd('publish', '--role', ROLE, '--code', await codeVariant(ws.dir, id), '--config', HELLO_CONFIG, '--release', id, '--sign-key', alice.private);
    expect(published.code, published.stderr).toBe(0);
  }
  [healthPort, appPort] = [await freePort(), await freePort()];
  dataDir = join(ws.dir, 'data');
  configFile = join(ws.dir, 'agent.json');
  await writeFile(configFile, JSON.stringify({
    sources: [{ bucket: ws.bucket, endpoint: proxy.url }], dataDir, healthPort, healthHost: '127.0.0.1', appPort, appUser: null,
    pollIntervalS: 0.5, drainS: 0.5, trustedKeys: [alice.trustedKey],
    identity: { provider: 'static', instanceId: 'i-signed', role: ROLE, az: 'z1', region: 'r1' },
  }));
});
afterAll(async () => {
  await probe?.stop();
  await agent?.stop();
  await proxy?.close();
  await ws?.close();
});

describe('an agent with trustedKeys follows only a signed channel', () => {
  it('applies a correct roll with --sign-key, and keeps the generation it trusted on disk', async () => {
    const first = await herd('roll', '--role', ROLE, '--release', 'v1', '--sign-key', alice.private);
    expect(first.code, first.stderr).toBe(0);
    gen1 = await stored();
    agent = startAgent(configFile, cleanEnv(S3_ENV));
    await running('v1');
    const second = await herd('roll', '--role', ROLE, '--release', 'v2', '--sign-key', alice.private);
    expect(second.code, second.stderr).toBe(0);
    const s = await running('v2');
    expect(JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body).release).toBe('v2');
    expect(condition(s, 'ChannelTrusted')).toMatchObject({ status: true, reason: 'Verified' });
    expect(s.trustedChannel).toMatchObject({ generation: 2, keyId: alice.keyId, expiresAt: (await stored()).channel.expiresAt });
    expect(JSON.parse(await readFile(join(dataDir, 'channel-trust.json'), 'utf8'))).toMatchObject({ schema: 'herd/channel-trust@1', role: ROLE, generation: 2 });
    expect(agent.lines.some((l) => l.msg === 'signed channel trusted' && l.generation === 2)).toBe(true);
    probe = probeApp();
  });

  it('while nothing changes, a poll is one conditional GET of the channel: the signature is not read again', async () => {
    const sigReads = proxy.count({ path: /channel\.json\.sig$/ });
    const channelReads = proxy.count({ path: /channel\.json$/ });
    await new Promise((r) => setTimeout(r, 3_000));
    expect(proxy.count({ path: /channel\.json\.sig$/ })).toBe(sigReads);
    const polls = proxy.requests.filter((r) => /channel\.json$/.test(r.path)).slice(channelReads);
    expect(polls.length).toBeGreaterThanOrEqual(3);
    expect(polls.every((r) => r.status === 304)).toBe(true);
  });

  it('refuses an older signed channel put back with its signature (rollback)', async () => {
    await plant(gen1.bytes, gen1.signature);
    const s = await refused('Rollback', 'v2');
    expect(s.lastError).toContain('channel refused, rollback: channel web generation 1 is older than generation 2, trusted here since');
    expect(agent.lines.some((l) => l.msg === 'channel refused; the running app keeps serving' && l.reason === 'Rollback')).toBe(true);
    const fleet = await waitUntil('herd status naming the refusal', async () => {
      const out = await herd('status', '--role', ROLE);
      return out.stdout.includes('channel refused, rollback') ? out.stdout : undefined;
    });
    // The ERROR column shortens the line; the reason comes first, so it survives.
    expect(fleet).toMatch(/i-signed\s+z1\s+v2\s+v2\s+running\s+yes\s+\S+\s+channel refused, rollback: channel web generation 1 is old/);
  });

  it('refuses an unsigned channel', async () => {
    await plant(encodeDocument({ ...gen1.channel, generation: 3, expiresAt: undefined }), null);
    const s = await refused('Unsigned', 'v2');
    expect(s.lastError).toMatch(/^channel refused, unsigned: channel web generation 3 has no s3:\/\/\S+ \(http:\/\/127\.0\.0\.1:\d+\)\/herd\/roles\/web\/channel\.json\.sig; trustedKeys is set, so only signed channels are followed here/);
  });

  it('refuses a channel changed after it was signed', async () => {
    const good = await signWith({ ...gen1.channel, generation: 3 }, alice);
    await plant(Buffer.from(good.bytes.toString().replace('"generation": 3', '"generation": 30')), good.signature);
    const s = await refused('BadSignature', 'v2');
    expect(s.lastError).toContain(`channel web generation 30: the signature by key ${alice.keyId} does not match the channel's bytes`);
  });

  it('refuses a channel signed by a key it does not trust', async () => {
    const byMallory = await signWith({ ...gen1.channel, generation: 3 }, mallory);
    await plant(byMallory.bytes, byMallory.signature);
    const s = await refused('UnknownKey', 'v2');
    expect(s.lastError).toContain(`is signed by key ${mallory.keyId}, which is not in trustedKeys (${alice.keyId})`);
  });

  it('refuses an expired channel (freeze)', async () => {
    const expired = await signWith({ ...gen1.channel, generation: 3, expiresAt: new Date(Date.now() - 3600_000).toISOString() }, alice);
    await plant(expired.bytes, expired.signature);
    const s = await refused('Expired', 'v2');
    expect(s.lastError).toContain('channel refused, expired: channel web generation 3 expired at');
    expect(s.lastError).toContain('herd resign --role web');
  });

  it('refuses a channel that expires while nothing changes, from what it read, without reading it again', async () => {
    // Valid for a few more seconds (the clock-skew margin counted): trusted now, expired then.
    const expiresAt = new Date(Date.now() - EXPIRY_SKEW_MS + 8_000).toISOString();
    const soon = await signWith({ ...(await stored()).channel, release: 'v2', previous: 'v1', generation: 3, expiresAt }, alice);
    await plant(soon.bytes, soon.signature);
    await waitUntil('the channel trusted', async () => {
      const s = await status();
      return (s.trustedChannel?.generation === 3 && condition(s, 'ChannelTrusted')?.reason === 'Verified') || undefined;
    });
    const from = proxy.requests.length;
    await refused('Expired', 'v2');
    const channelReads = proxy.requests.slice(from).filter((r) => /channel\.json$/.test(r.path));
    expect(channelReads.length).toBeGreaterThan(0);
    expect(channelReads.every((r) => r.status === 304)).toBe(true);
  });

  it('follows the expired channel again once herd resign extends it: the same generation, a later expiry', async () => {
    const resigned = await herd('resign', '--role', ROLE, '--sign-key', alice.private, '--expires-in', '2d');
    expect(resigned.code, resigned.stderr).toBe(0);
    const { channel } = await stored();
    const s = await waitUntil('the re-signed channel followed', async () => {
      const st = await status();
      return condition(st, 'ChannelTrusted')?.reason === 'Verified' ? st : undefined;
    });
    expect(s.trustedChannel).toMatchObject({ generation: 3, expiresAt: channel.expiresAt });
    expect(s.release).toBe('v2');
  });

  it('kept the app serving throughout: every request answered, by the same v2 process', async () => {
    const seen = await probe.stop();
    expect(seen.ok).toBeGreaterThan(50);
    expect(seen.failed).toBe(0);
    expect([...seen.releases]).toEqual(['v2']);
    expect(seen.pids.size).toBe(1);
  });

  it('still refuses both after a restart: the generation it trusted is on disk', async () => {
    expect(await agent.stop()).toBe(0);
    await plant(gen1.bytes, gen1.signature);
    agent = startAgent(configFile, cleanEnv(S3_ENV));
    const s = await refused('Rollback', 'v2');
    expect(s.trustedChannel).toMatchObject({ generation: 3 });
    expect(s.lastError).toContain('channel web generation 1 is older than generation 3');
    expect(agent.lines.some((l) => l.msg === 'starting the last-known-good release from the data directory')).toBe(true);
    probe = probeApp();

    const expired = await signWith({ ...gen1.channel, generation: 4, expiresAt: new Date(Date.now() - 3600_000).toISOString() }, alice);
    await plant(expired.bytes, expired.signature);
    await refused('Expired', 'v2');
    const seen = await probe.stop();
    expect(seen.failed).toBe(0);
    expect([...seen.releases]).toEqual(['v2']);
  });

  it('a roll onto a channel put back is refused as old; one above the generation trusted is applied', async () => {
    await plant(gen1.bytes, gen1.signature);
    await refused('Rollback', 'v2');
    const low = await herd('roll', '--role', ROLE, '--release', 'v1', '--sign-key', alice.private, '--json');
    expect(low.code, low.stderr).toBe(0);
    expect(JSON.parse(low.stdout).channel.generation).toBe(2);
    await waitUntil('generation 2 refused', async () => String((await status()).lastError).includes('generation 2 is older than generation 3') || undefined);
    const high = await herd('roll', '--role', ROLE, '--release', 'v1', '--sign-key', alice.private, '--generation', '4');
    expect(high.code, high.stderr).toBe(0);
    const s = await running('v1');
    expect(condition(s, 'ChannelTrusted')).toMatchObject({ status: true, reason: 'Verified' });
    expect(s.trustedChannel).toMatchObject({ generation: 4 });
    expect(String(s.lastError)).not.toContain('channel refused');
  });
});
