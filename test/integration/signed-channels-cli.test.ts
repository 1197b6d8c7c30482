// The commands that write the channel, signing it, with the built CLI against a real S3
// server: roll, rollback, pause and resume with --sign-key write channel.json.sig over the
// channel's exact bytes with an expiresAt; resign extends expiresAt and nothing else; what
// would break a signed fleet is refused before anything is written.
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTrustedKey } from '../../agent/signing/keys.ts';
import { checkSignature } from '../../agent/signing/signature.ts';
import type { Channel } from '../../agent/store/schemas.ts';
import { HELLO_APP, runHerd, workspace, type Workspace } from '../helpers/harness.ts';

interface Key { private: string; trustedKey: string; keyId: string }

let ws: Workspace;
let alice: Key;
let bob: Key;
const herd = (...args: string[]) => runHerd([args[0] as string, ...ws.storeFlags, ...args.slice(1)]);
const DAY_MS = 86_400_000;

async function keygen(name: string): Promise<Key> {
  const result = await runHerd(['keygen', '--out', join(ws.dir, 'keys'), '--name', name, '--json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

/** The channel as stored, its exact bytes, and which of `keys` its stored signature verifies by (null: none). */
async function stored(role: string, keys: Key[] = [alice]): Promise<{ channel: Channel; bytes: Buffer; signedBy: string | null }> {
  const store = ws.store();
  const read = await store.getChannel(role);
  if (read.kind !== 'found') throw new Error(`no channel for ${role}`);
  const signature = (await store.getChannelSignature(role))?.bytes ?? null;
  const check = checkSignature({ bytes: read.bytes, signature, trusted: keys.map((k) => parseTrustedKey(k.trustedKey)), where: 'sig' });
  return { channel: read.channel, bytes: read.bytes, signedBy: check.ok ? check.key.keyId : null };
}

async function ok(...args: string[]): Promise<Record<string, unknown>> {
  const result = await herd(...args, '--json');
  expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout);
}

const expiresInMs = (c: Channel, from: number) => Date.parse(c.expiresAt as string) - from;

beforeAll(async () => {
  ws = await workspace();
  [alice, bob] = await Promise.all([keygen('alice'), keygen('bob')]);
  for (const id of ['r1', 'r2']) {
    const published = await herd('publish', '--role', 'web', '--code', HELLO_APP, '--release', id);
    expect(published.code, published.stderr).toBe(0);
  }
});
afterAll(async () => { await ws?.close(); });

describe('--sign-key on every command that writes the channel', () => {
  it('roll signs the channel\'s exact bytes, with expiresAt --expires-in from now (7 days by default)', async () => {
    const before = Date.now();
    const rolled = await ok('roll', '--role', 'web', '--release', 'r1', '--sign-key', alice.private, '--expires-in', '36h');
    const first = await stored('web');
    expect(first.signedBy).toBe(alice.keyId);
    expect(rolled).toMatchObject({ signedBy: alice.keyId, channel: { generation: 1, expiresAt: first.channel.expiresAt } });
    expect(expiresInMs(first.channel, before)).toBeGreaterThanOrEqual(36 * 3600_000);
    expect(expiresInMs(first.channel, Date.now())).toBeLessThanOrEqual(36 * 3600_000);

    const human = await herd('roll', '--role', 'web', '--release', 'r2', '--sign-key', alice.private);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stderr).toContain(`signed by key ${alice.keyId}; valid until `);
    const second = await stored('web');
    expect(second).toMatchObject({ signedBy: alice.keyId, channel: { generation: 2, release: 'r2', previous: 'r1' } });
    expect(Math.abs(expiresInMs(second.channel, Date.now()) - 7 * DAY_MS)).toBeLessThan(60_000);
  });

  it.each([
    ['pause', [], { paused: true }],
    ['resume', [], { paused: false }],
    ['rollback', [], { release: 'r1', previous: 'r2' }],
    ['roll', ['--release', 'r2', '--waves', '2', '--wave-interval', '60'], { release: 'r2', rollout: { waves: 2 } }],
  ] as const)('%s signs the channel it writes, one generation up', async (command, extra, want) => {
    const before = (await stored('web')).channel.generation;
    const out = await ok(command, '--role', 'web', ...extra, '--sign-key', alice.private, '--expires-in', '2d');
    const after = await stored('web');
    expect(after.signedBy).toBe(alice.keyId);
    expect(after.channel).toMatchObject({ ...want, generation: before + 1 });
    expect(out.signedBy).toBe(alice.keyId);
    expect(Math.abs(expiresInMs(after.channel, Date.now()) - 2 * DAY_MS)).toBeLessThan(60_000);
  });

  it('refuses to write unsigned over a signed channel (exit 2), unless --unsigned', async () => {
    const before = await stored('web');
    const refused = await herd('pause', '--role', 'web');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('channel web is signed (herd/roles/web/channel.json.sig): sign this change too with --sign-key FILE, or pass --unsigned');
    expect((await stored('web')).bytes.equals(before.bytes)).toBe(true);
  });

  it.each([
    [['--sign-key', 'KEY', '--expires-in', '0'], '--expires-in 0: takes a duration from 1s to 366d'],
    [['--sign-key', 'KEY', '--expires-in', '7 days'], '--expires-in 7 days: takes a duration'],
    [['--sign-key', 'KEY', '--expires-in', '400d'], '--expires-in 400d: takes a duration'],
    [['--expires-in', '7d'], '--expires-in sets when a signed channel expires: it needs --sign-key FILE'],
    [['--sign-key', 'KEY', '--unsigned'], '--unsigned and --sign-key contradict each other'],
    [['--sign-key', 'PUB'], 'is a public key; sign with the private key'],
  ])('refuses bad flags before writing anything (exit 2): %j', async (flags, message) => {
    const before = await stored('web');
    const args = flags.map((f) => (f === 'KEY' ? alice.private : f === 'PUB' ? alice.private.replace(/\.key$/, '.pub') : f));
    const result = await herd('pause', '--role', 'web', ...args);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(message);
    expect((await stored('web')).bytes.equals(before.bytes)).toBe(true);
  });

  it('roll --generation jumps above what agents trust, and never goes down', async () => {
    const current = (await stored('web')).channel.generation;
    const down = await herd('roll', '--role', 'web', '--release', 'r1', '--sign-key', alice.private, '--generation', String(current));
    expect(down.code).toBe(2);
    expect(down.stderr).toContain(`--generation ${current} is not above the channel's generation ${current}: a channel's generation only grows`);
    await ok('roll', '--role', 'web', '--release', 'r1', '--sign-key', alice.private, '--generation', String(current + 10));
    expect(await stored('web')).toMatchObject({ signedBy: alice.keyId, channel: { generation: current + 10 } });
  });
});

describe('herd resign', () => {
  it('extends expiresAt, and changes nothing else: same generation, updatedAt and updatedBy', async () => {
    await ok('roll', '--role', 'web', '--release', 'r2', '--sign-key', alice.private, '--expires-in', '1d');
    const before = await stored('web');
    const out = await ok('resign', '--role', 'web', '--sign-key', alice.private, '--expires-in', '30d');
    const after = await stored('web');
    expect(after.signedBy).toBe(alice.keyId);
    const { expiresAt, ...rest } = after.channel;
    const { expiresAt: was, ...restBefore } = before.channel;
    expect(rest).toEqual(restBefore);
    expect(Date.parse(expiresAt as string)).toBeGreaterThan(Date.parse(was as string));
    expect(Math.abs(expiresInMs(after.channel, Date.now()) - 30 * DAY_MS)).toBeLessThan(60_000);
    expect(out).toMatchObject({ signedBy: alice.keyId, previousExpiresAt: was, channel: { generation: before.channel.generation, expiresAt } });
    const human = await herd('resign', '--role', 'web', '--sign-key', alice.private, '--expires-in', '31d');
    expect(human.stdout).toMatch(new RegExp(`^web: generation ${before.channel.generation} re-signed by key ${alice.keyId}, expires \\S+ \\(was ${expiresAt}\\)\\n$`));
  });

  it('refuses an expiry that is not later than the one there (agents would refuse it as a replay)', async () => {
    const before = await stored('web');
    const result = await herd('resign', '--role', 'web', '--sign-key', alice.private, '--expires-in', '1h');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--expires-in would end at \S+, not after the channel's expiresAt/);
    expect((await stored('web')).bytes.equals(before.bytes)).toBe(true);
  });

  it('signs only what a trusted key signed: another key\'s channel needs --trusted-key (rotation)', async () => {
    const refused = await herd('resign', '--role', 'web', '--sign-key', bob.private, '--expires-in', '40d');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`in the store does not verify (it is signed by key ${alice.keyId}, not by ${bob.keyId}): resign signs only what a trusted key signed`);
    await ok('resign', '--role', 'web', '--sign-key', bob.private, '--expires-in', '40d', '--trusted-key', alice.trustedKey);
    expect((await stored('web', [alice, bob])).signedBy).toBe(bob.keyId);
  });

  it('refuses a channel changed in the store after it was signed, writing nothing', async () => {
    const { bytes } = await stored('web', [bob]);
    const evil = Buffer.from(bytes.toString().replace('"release": "r2"', '"release": "r1"'));
    expect(evil.equals(bytes)).toBe(false);
    await ws.client().send(new PutObjectCommand({ Bucket: ws.bucket, Key: 'herd/roles/web/channel.json', Body: evil }));
    const result = await herd('resign', '--role', 'web', '--sign-key', bob.private, '--expires-in', '50d');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`the signature by key ${bob.keyId} does not match the channel's bytes`);
    expect((await stored('web', [bob])).bytes.equals(evil)).toBe(true);
  });

  it('refuses an unsigned channel (exit 2), saying how to sign it once', async () => {
    const published = await herd('publish', '--role', 'plain', '--code', HELLO_APP, '--release', 'p1');
    expect(published.code).toBe(0);
    await ok('roll', '--role', 'plain', '--release', 'p1');
    const result = await herd('resign', '--role', 'plain', '--sign-key', alice.private);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('channel plain is not signed; herd resign only extends a signed channel\'s expiry. Sign it once with a change: herd roll --role plain --release p1 --sign-key FILE');
  });
});

describe('herd status', () => {
  it('says who signed the channel and until when', async () => {
    await ok('roll', '--role', 'web', '--release', 'r2', '--sign-key', alice.private, '--expires-in', '3d');
    const { channel } = await stored('web');
    const status = await herd('status', '--role', 'web');
    expect(status.stdout).toContain(`signed   by key ${alice.keyId}, expires ${channel.expiresAt} (in 2d)`);
    const json = JSON.parse((await herd('status', '--role', 'web', '--json')).stdout);
    expect(json).toMatchObject({ signature: { keyId: alice.keyId, error: null }, expired: false, channel: { expiresAt: channel.expiresAt } });
  });
});
