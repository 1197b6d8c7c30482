// s3rver ignores If-Match / If-None-Match on PUT (checked: a PUT with a stale ETag is
// accepted), so the conditional channel write is checked here against a mocked S3Client:
// rollback, pause and resume send If-Match with the ETag they read, and a store's 412 is
// a ConflictError (exit 1) naming the channel, with nothing retried or overwritten. Signed,
// the signature is written first, conditional on its own ETag, and put back when the
// channel write is then refused.
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { setPaused } from '../../agent/commands/pause.ts';
import { rollback } from '../../agent/commands/rollback.ts';
import { ConflictError, exitCodeOf } from '../../agent/errors.ts';
import { silentLogger } from '../../agent/log.ts';
import { generateSigningKeyPair, parseSigningKey } from '../../agent/signing/keys.ts';
import { ObjectStore } from '../../agent/store/object-store.ts';
import type { Channel, ReleaseManifest } from '../../agent/store/schemas.ts';

const client = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
const s3 = mockClient(client);
const store = new ObjectStore({ source: { bucket: 'b', prefix: 'herd' } as ObjectStore['source'], log: silentLogger(), client });
const ETAG = '"5d41402abc4b2a76b9719d911017c592"';

const channel: Channel = {
  schema: 'herd/channel@1', role: 'web', release: 'v2', previous: 'v1',
  rollout: { percent: 100, waves: 1, waveIntervalS: 0, startedAt: '2026-11-22T10:00:00.000Z' },
  paused: false, generation: 3, updatedAt: '2026-11-22T10:00:00.000Z', updatedBy: 'alice@laptop',
};
const manifest: ReleaseManifest = {
  schema: 'herd/release@1', role: 'web', id: 'v1', createdAt: '2026-11-22T09:00:00.000Z',
  code: { digest: `sha256:${'a'.repeat(64)}`, size: 10 }, config: null,
  run: { command: ['node', 's.mjs'], port: 8080, health: { path: '/h', timeoutS: 5 } },
};
const body = (doc: unknown) => Readable.from([Buffer.from(JSON.stringify(doc))]) as never;
const notFound = () => Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
const preconditionFailed = () => Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
  name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 },
});

beforeEach(() => {
  s3.reset();
  s3.on(GetObjectCommand, { Key: 'herd/roles/web/channel.json' }).callsFake(() => ({ Body: body(channel), ETag: ETAG }));
  s3.on(GetObjectCommand, { Key: 'herd/roles/web/releases/v1.json' }).callsFake(() => ({ Body: body(manifest) }));
  s3.on(GetObjectCommand, { Key: 'herd/roles/web/channel.json.sig' }).rejects(notFound());
});

const puts = () => s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);

describe('channel writes are conditional on the ETag read', () => {
  it.each([
    ['rollback', () => rollback({ store, role: 'web', actor: 'bob', log: silentLogger() })],
    ['pause', () => setPaused({ store, role: 'web', paused: true, actor: 'bob', log: silentLogger() })],
  ])('%s sends If-Match with the ETag it read', async (_name, run) => {
    s3.on(PutObjectCommand).resolves({ ETag: '"new"' });
    await run();
    expect(puts()).toHaveLength(1);
    expect(puts()[0]).toMatchObject({ Bucket: 'b', Key: 'herd/roles/web/channel.json', IfMatch: ETAG });
    expect(puts()[0]?.IfNoneMatch).toBeUndefined();
  });

  it('resume sends If-Match too', async () => {
    s3.on(GetObjectCommand, { Key: 'herd/roles/web/channel.json' }).callsFake(() => ({ Body: body({ ...channel, paused: true }), ETag: ETAG }));
    s3.on(PutObjectCommand).resolves({});
    await setPaused({ store, role: 'web', paused: false, actor: 'bob', log: silentLogger() });
    expect(puts()[0]).toMatchObject({ IfMatch: ETAG });
    expect(JSON.parse(String(puts()[0]?.Body))).toMatchObject({ paused: false, generation: 4 });
  });

  it.each([
    ['rollback', () => rollback({ store, role: 'web', actor: 'bob', log: silentLogger() })],
    ['pause', () => setPaused({ store, role: 'web', paused: true, actor: 'bob', log: silentLogger() })],
  ])('%s fails with a conflict (exit 1) when another operator changed the channel', async (_name, run) => {
    s3.on(PutObjectCommand).rejects(preconditionFailed());
    const err = await run().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(exitCodeOf(err)).toBe(1);
    expect((err as Error).message).toContain('herd/roles/web/channel.json changed or exists already');
    expect(puts()).toHaveLength(1);
  });

  it('a no-op pause writes nothing', async () => {
    s3.on(GetObjectCommand, { Key: 'herd/roles/web/channel.json' }).callsFake(() => ({ Body: body({ ...channel, paused: true }), ETag: ETAG }));
    const result = await setPaused({ store, role: 'web', paused: true, actor: 'bob', log: silentLogger() });
    expect(result.changed).toBe(false);
    expect(puts()).toEqual([]);
  });

  it('rollback writes nothing when the previous release\'s manifest is gone', async () => {
    s3.on(GetObjectCommand, { Key: 'herd/roles/web/releases/v1.json' }).rejects(notFound());
    await expect(rollback({ store, role: 'web', actor: 'bob', log: silentLogger() })).rejects.toThrow('cannot roll back to v1: release v1 of role web is not published');
    expect(puts()).toEqual([]);
  });
});

describe('signed channel writes', () => {
  const signer = parseSigningKey(generateSigningKeyPair().privatePem, 'k.key');
  const write = { signing: { key: signer, expiresInS: 3600 } };
  const OLD_SIG = Buffer.from('{"old": "signature"}');
  const SIG_ETAG = '"sig-etag"';
  const sigKey = 'herd/roles/web/channel.json.sig';

  it('writes the signature first, If-Match on its ETag, then the channel, If-Match on its own', async () => {
    s3.on(GetObjectCommand, { Key: sigKey }).callsFake(() => ({ Body: Readable.from([OLD_SIG]), ETag: SIG_ETAG }));
    s3.on(PutObjectCommand).resolves({ ETag: '"new"' });
    await setPaused({ store, role: 'web', paused: true, actor: 'bob', log: silentLogger(), write });
    expect(puts().map((p) => [p.Key, p.IfMatch])).toEqual([[sigKey, SIG_ETAG], ['herd/roles/web/channel.json', ETAG]]);
  });

  it('a first signature is written only where none exists', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"new"' });
    await rollback({ store, role: 'web', actor: 'bob', log: silentLogger(), write });
    expect(puts()[0]).toMatchObject({ Key: sigKey, IfNoneMatch: '*' });
  });

  it('another signer first: nothing is written, exit 1', async () => {
    s3.on(GetObjectCommand, { Key: sigKey }).callsFake(() => ({ Body: Readable.from([OLD_SIG]), ETag: SIG_ETAG }));
    s3.on(PutObjectCommand, { Key: sigKey }).rejects(preconditionFailed());
    const err = await setPaused({ store, role: 'web', paused: true, actor: 'bob', log: silentLogger(), write }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toContain("channel web's signature changed since it was read");
    expect(puts()).toHaveLength(1);
  });

  it('the channel changed meanwhile: the old signature is put back over ours, and the conflict reported', async () => {
    s3.on(GetObjectCommand, { Key: sigKey }).callsFake(() => ({ Body: Readable.from([OLD_SIG]), ETag: SIG_ETAG }));
    s3.on(PutObjectCommand, { Key: sigKey }).resolves({ ETag: '"ours"' });
    s3.on(PutObjectCommand, { Key: 'herd/roles/web/channel.json' }).rejects(preconditionFailed());
    const err = await setPaused({ store, role: 'web', paused: true, actor: 'bob', log: silentLogger(), write }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(puts().map((p) => p.Key)).toEqual([sigKey, 'herd/roles/web/channel.json', sigKey]);
    expect(puts()[2]).toMatchObject({ IfMatch: '"ours"' });
    expect(Buffer.from(puts()[2]?.Body as Uint8Array).equals(OLD_SIG)).toBe(true);
  });

  it('unsigned over a signed channel is refused (exit 2) unless --unsigned', async () => {
    s3.on(GetObjectCommand, { Key: sigKey }).callsFake(() => ({ Body: Readable.from([OLD_SIG]), ETag: SIG_ETAG }));
    s3.on(PutObjectCommand).resolves({});
    const err = await setPaused({ store, role: 'web', paused: true, actor: 'bob', log: silentLogger() }).then(() => null, (e: unknown) => e);
    expect(exitCodeOf(err)).toBe(2);
    expect((err as Error).message).toContain('channel web is signed (herd/roles/web/channel.json.sig): sign this change too with --sign-key FILE, or pass --unsigned');
    expect(puts()).toEqual([]);
    await setPaused({ store, role: 'web', paused: true, actor: 'bob', log: silentLogger(), write: { unsigned: true } });
    expect(puts().map((p) => p.Key)).toEqual(['herd/roles/web/channel.json']);
  });
});
