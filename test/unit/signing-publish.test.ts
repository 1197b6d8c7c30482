// herd publish --sign-key against a real S3 server: the signature object is written before the
// manifest and verifies its exact bytes; re-publishing never adds, replaces or drops a signature.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startLocalS3, LOCAL_S3_CREDENTIALS, type LocalS3 } from '../../support/local-s3.ts';
import type { Output } from '../../agent/commands/output.ts';
import { publish } from '../../agent/commands/publish.ts';
import type { SourceConfig } from '../../agent/config.ts';
import { ConfigError, ConflictError, exitCodeOf } from '../../agent/errors.ts';
import { silentLogger } from '../../agent/log.ts';
import { generateSigningKeyPair, parseTrustedKey } from '../../agent/signing/keys.ts';
import { verifySignature } from '../../agent/signing/signature.ts';
import { createS3Client } from '../../agent/store/client.ts';
import { ObjectStore } from '../../agent/store/object-store.ts';
import { HELLO_APP, HELLO_CONFIG } from '../helpers/harness.ts';

const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();
let work: string;
let s3: LocalS3;
let client: S3Client;
let store: ObjectStore;
let keyFile: { alice: string; bob: string; alicePub: string };
/** Keys of every PutObject sent, in order, seen on the real client. */
let puts: string[] = [];
let lines: string[] = [];
const out: Output = { json: false, result: () => {}, info: (l) => { lines.push(l); }, progress: () => () => {} };

const publishAs = (release: string, signKey?: string) => publish({
  store, role: 'web', code: HELLO_APP, config: HELLO_CONFIG, release, out, log: silentLogger(), ...(signKey ? { signKey } : {}),
});
const failure = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a failure'); }, (err: unknown) => err as Error);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'herd-sign-publish-'));
  s3 = await startLocalS3({ directory: join(work, 's3'), buckets: ['sign-publish'] });
  const source = { bucket: 'sign-publish', prefix: 'herd', endpoint: s3.endpoint } as SourceConfig;
  client = createS3Client(source, LOCAL_S3_CREDENTIALS);
  client.middlewareStack.add((next, context) => async (args) => {
    if (context.commandName === 'PutObjectCommand') puts.push((args.input as { Key: string }).Key);
    return next(args);
  }, { step: 'initialize' });
  store = new ObjectStore({ source, log: silentLogger(), client });
  keyFile = { alice: join(work, 'alice.key'), bob: join(work, 'bob.key'), alicePub: join(work, 'alice.pub') };
  await writeFile(keyFile.alice, alice.privatePem, { mode: 0o600 });
  await writeFile(keyFile.bob, bob.privatePem, { mode: 0o600 });
  await writeFile(keyFile.alicePub, alice.publicPem);
});
afterAll(async () => {
  await s3?.close();
  await rm(work, { recursive: true, force: true });
});
beforeEach(() => { puts = []; lines = []; });

describe('publish --sign-key', () => {
  it('writes the signature first, then the manifest it verifies byte for byte', async () => {
    const result = await publishAs('signed', keyFile.alice);
    expect(result).toMatchObject({ release: 'signed', existed: false, signedBy: alice.keyId });
    const sigKey = 'herd/roles/web/releases/signed.json.sig';
    const manifestKey = 'herd/roles/web/releases/signed.json';
    expect(puts.filter((k) => k.startsWith('herd/roles/'))).toEqual([sigKey, manifestKey]);
    const { bytes } = await store.getManifest('web', 'signed');
    const signature = await store.getSignature('web', 'signed');
    const by = verifySignature({ bytes, signature, trusted: [parseTrustedKey(alice.trustedKey)], what: 'release web/signed', where: sigKey });
    expect(by.keyId).toBe(alice.keyId);
    expect(lines).toContain(`signed with key ${alice.keyId}`);
  });

  it('is a no-op when the same release is published again with the same key', async () => {
    const again = await publishAs('signed', keyFile.alice);
    expect(again).toMatchObject({ existed: true, signedBy: alice.keyId, uploadedBytes: 0 });
    expect(puts).toEqual([]);
    expect(lines.at(-1)).toBe(`release web/signed is already published with these contents, signed by key ${alice.keyId}`);
  });

  it('is a no-op without a key too: the signature stays', async () => {
    expect(await publishAs('signed')).toMatchObject({ existed: true, signedBy: null });
    expect(puts).toEqual([]);
    expect(await store.getSignature('web', 'signed')).not.toBeNull();
  });

  it('refuses to re-sign a release signed by another key', async () => {
    const err = await failure(publishAs('signed', keyFile.bob));
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.message).toBe(`release signed of role web is already published signed by key ${alice.keyId}, not by --sign-key's key ${bob.keyId}; publish under a new --release id`);
    expect(puts).toEqual([]);
  });

  it('refuses to sign a release published unsigned, and adds no signature', async () => {
    expect(await publishAs('plain')).toMatchObject({ existed: false, signedBy: null });
    expect(await store.getSignature('web', 'plain')).toBeNull();
    puts = [];
    const err = await failure(publishAs('plain', keyFile.alice));
    expect(err).toBeInstanceOf(ConflictError);
    expect(exitCodeOf(err)).toBe(1);
    expect(err.message).toContain('release plain of role web is already published unsigned; a published release is never signed afterwards');
    expect(puts).toEqual([]);
    expect(await store.getSignature('web', 'plain')).toBeNull();
  });

  it('refuses a release id whose signature object exists without a manifest, signed or not', async () => {
    await client.send(new PutObjectCommand({ Bucket: 'sign-publish', Key: 'herd/roles/web/releases/orphan.json.sig', Body: '{}' }));
    puts = [];
    for (const key of [keyFile.alice, undefined]) {
      const err = await failure(publishAs('orphan', key));
      expect(err).toBeInstanceOf(ConflictError);
      expect(err.message).toContain('release orphan of role web has a signature object but no manifest');
    }
    expect(puts).toEqual([]);
    await expect(store.getManifest('web', 'orphan')).rejects.toThrowError('is not published');
  });

  it.each([
    ['the public key', () => keyFile.alicePub, 'is a public key; sign with the private key'],
    ['a missing file', () => join(work, 'absent.key'), 'cannot read'],
  ])('refuses %s as --sign-key (exit 2) before uploading anything', async (_what, file, reason) => {
    const err = await failure(publishAs('never', file()));
    expect(err).toBeInstanceOf(ConfigError);
    expect(exitCodeOf(err)).toBe(2);
    expect(err.message).toContain(`--sign-key ${file()}: ${reason}`);
    expect(puts).toEqual([]);
  });
});
