// fetchRelease with trustedKeys, against a real S3 server and a real data directory: a release
// runs only when its manifest's signature verifies, checked before any staging or download;
// the verified bytes and their signature are what lands on disk; a release already on disk
// is checked again from disk, or against the store's signed manifest when it has no signature.
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3, LOCAL_S3_CREDENTIALS, type LocalS3 } from '../../support/local-s3.ts';
import type { Output } from '../../agent/commands/output.ts';
import { publish } from '../../agent/commands/publish.ts';
import { agentConfigSchema, type SourceConfig } from '../../agent/config.ts';
import { IntegrityError } from '../../agent/errors.ts';
import { createLogger, silentLogger } from '../../agent/log.ts';
import { DataDir } from '../../agent/releases/data-dir.ts';
import { fetchRelease, SIGNATURE_FILE } from '../../agent/releases/fetch-release.ts';
import { generateSigningKeyPair } from '../../agent/signing/keys.ts';
import { createS3Client } from '../../agent/store/client.ts';
import { ObjectStore } from '../../agent/store/object-store.ts';
import { HELLO_CONFIG } from '../helpers/harness.ts';
import { codeVariant } from '../helpers/releases.ts';

const BUCKET = 'sign-fetch';
const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();
const limits = agentConfigSchema.shape.limits.parse(undefined);
const out: Output = { json: false, result: () => {}, info: () => {}, progress: () => () => {} };
let work: string;
let s3: LocalS3;
let client: S3Client;
let store: ObjectStore;
let deadStore: ObjectStore;

const key = (id: string, suffix = '') => `herd/roles/web/releases/${id}.json${suffix}`;
const object = async (k: string) => Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: k }))).Body!.transformToByteArray());
const putObject = (k: string, body: Buffer | string) => client.send(new PutObjectCommand({ Bucket: BUCKET, Key: k, Body: body }));

async function newDataDir(): Promise<DataDir> {
  const dataDir = new DataDir({ root: await mkdtemp(join(work, 'data-')), log: silentLogger() });
  await dataDir.init();
  return dataDir;
}

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({ write(chunk, _enc, done) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); done(); } });
  return { lines, log: createLogger({ level: 'info', destination }) };
}

const fetchWith = (dataDir: DataDir, releaseId: string, trustedKeys: string[], over: { store?: ObjectStore; log?: ReturnType<typeof silentLogger> } = {}) =>
  fetchRelease({ store: over.store ?? store, dataDir, role: 'web', releaseId, limits, log: over.log ?? silentLogger(), trustedKeys });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'herd-sign-fetch-'));
  s3 = await startLocalS3({ directory: join(work, 's3'), buckets: [BUCKET] });
  const source = { bucket: BUCKET, prefix: 'herd', endpoint: s3.endpoint } as SourceConfig;
  client = createS3Client(source, LOCAL_S3_CREDENTIALS);
  store = new ObjectStore({ source, log: silentLogger(), client });
  const dead = { bucket: BUCKET, prefix: 'herd', endpoint: 'http://127.0.0.1:1' } as SourceConfig;
  deadStore = new ObjectStore({ source: dead, log: silentLogger(), client: createS3Client(dead, LOCAL_S3_CREDENTIALS) });

  await writeFile(join(work, 'alice.key'), alice.privatePem);
  await writeFile(join(work, 'bob.key'), bob.privatePem);
  const code = await codeVariant(work, 'signed-fetch');
  const publishAs = (release: string, signKey?: string) =>
    publish({ store, role: 'web', code, config: HELLO_CONFIG, release, out, log: silentLogger(), ...(signKey ? { signKey: join(work, signKey) } : {}) });
  await publishAs('signed', 'alice.key');
  await publishAs('unsigned');
  await publishAs('by-bob', 'bob.key');
  await publishAs('tampered', 'alice.key');
  await publishAs('garbage-sig', 'alice.key');
  // After signing, someone with write access changes the manifest (still valid JSON and schema) and the signature object.
  const manifest = (await object(key('tampered'))).toString('utf8');
  await putObject(key('tampered'), manifest.replace(/"createdAt": "\d{4}/, '"createdAt": "1999'));
  await putObject(key('garbage-sig', '.sig'), 'not a signature');
});

afterAll(async () => {
  await s3?.close();
  await rm(work, { recursive: true, force: true });
});

describe('fetching with trustedKeys', () => {
  it('installs a release signed by a trusted key, keeping the verified bytes and their signature', async () => {
    const dataDir = await newDataDir();
    const { lines, log } = capture();
    const result = await fetchWith(dataDir, 'signed', [alice.publicPem], { log });
    expect(result.fetched).toBe(true);
    expect(await readFile(join(result.release.dir, 'manifest.json'))).toEqual(await object(key('signed')));
    expect(await readFile(join(result.release.dir, SIGNATURE_FILE))).toEqual(await object(key('signed', '.sig')));
    expect(lines.find((l) => l.msg === 'release signature verified')).toMatchObject({ keyId: alice.keyId, release: 'signed' });
  });

  it.each([
    ['unsigned', 'release web/unsigned is not signed (no '],
    ['by-bob', `release web/by-bob is signed by key ${bob.keyId}, which is not in trustedKeys (${alice.keyId})`],
    ['tampered', `release web/tampered: the signature by key ${alice.keyId} does not match the manifest's bytes`],
    ['garbage-sig', 'release web/garbage-sig: signature '],
  ])('refuses %s before creating a staging directory or downloading a blob', async (id, reason) => {
    const dataDir = await newDataDir();
    const err = await fetchWith(dataDir, id, [alice.trustedKey]).then(() => null, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err?.message).toContain(reason);
    expect(await readdir(dataDir.releasesDir)).toEqual([]);
    expect(await readdir(dataDir.blobsDir)).toEqual([]);
  });

  it('accepts a release signed by any one of several trusted keys', async () => {
    const result = await fetchWith(await newDataDir(), 'by-bob', [alice.trustedKey, bob.trustedKey]);
    expect(result.fetched).toBe(true);
  });

  it('without trustedKeys, runs unsigned releases as before and keeps no signature', async () => {
    const result = await fetchWith(await newDataDir(), 'unsigned', []);
    expect(result.fetched).toBe(true);
    await expect(readFile(join(result.release.dir, SIGNATURE_FILE))).rejects.toThrowError('ENOENT');
  });
});

describe('a release already on disk, with trustedKeys', () => {
  it('is checked from disk alone when its signature was kept (every source down)', async () => {
    const dataDir = await newDataDir();
    await fetchWith(dataDir, 'signed', [alice.trustedKey]);
    const again = await fetchWith(dataDir, 'signed', [alice.trustedKey], { store: deadStore });
    expect(again.fetched).toBe(false);
  });

  it('is refused from disk when the keys changed since, and the store cannot vouch for it', async () => {
    const dataDir = await newDataDir();
    await fetchWith(dataDir, 'signed', [alice.trustedKey]);
    await expect(fetchWith(dataDir, 'signed', [bob.trustedKey])).rejects.toThrowError(`release web/signed is signed by key ${alice.keyId}, which is not in trustedKeys`);
  });

  it('fetched before keys were set: the store\'s signed manifest vouches for it when the bytes are the same', async () => {
    const dataDir = await newDataDir();
    await fetchWith(dataDir, 'signed', []);
    await expect(fetchWith(dataDir, 'signed', [alice.trustedKey], { store: deadStore })).rejects.toThrowError();
    const result = await fetchWith(dataDir, 'signed', [alice.trustedKey]);
    expect(result.fetched).toBe(false);
    expect(await readFile(join(result.release.dir, SIGNATURE_FILE))).toEqual(await object(key('signed', '.sig')));
    expect((await fetchWith(dataDir, 'signed', [alice.trustedKey], { store: deadStore })).fetched).toBe(false);
  });

  it('fetched unsigned before keys were set: refused', async () => {
    const dataDir = await newDataDir();
    await fetchWith(dataDir, 'unsigned', []);
    await expect(fetchWith(dataDir, 'unsigned', [alice.trustedKey])).rejects.toThrowError('release web/unsigned is not signed');
  });

  it('changed on disk: refused, naming the directory to remove', async () => {
    const dataDir = await newDataDir();
    const { release } = await fetchWith(dataDir, 'signed', []);
    const file = join(release.dir, 'manifest.json');
    await writeFile(file, `${await readFile(file, 'utf8')}\n`);
    await expect(fetchWith(dataDir, 'signed', [alice.trustedKey])).rejects.toThrowError(
      `release web/signed on disk differs from its signed manifest in the store; remove ${release.dir} to fetch it again`,
    );
  });
});
