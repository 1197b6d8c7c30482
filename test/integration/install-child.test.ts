// The agent installs each bundle in a child process of its own executable (`herd install-bundle`),
// streaming the bytes to it: the same outcomes as installing in-process (bundle-install.test.ts),
// through the built CLI, with errors keeping their class across the process boundary.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { childInstaller } from '../../agent/bundle/install-in-child.ts';
import { packDirectory } from '../../agent/bundle/pack.ts';
import { IntegrityError, UnsafeArchiveError } from '../../agent/errors.ts';
import { createLogger, silentLogger } from '../../agent/log.ts';
import type { BlobRef } from '../../agent/store/schemas.ts';
import { buildArchive, createSandbox, describeTree, type Sandbox } from '../fixtures/archives/hostile.ts';
import { HERD } from '../helpers/harness.ts';

const LIMITS = { maxUnpackedBytes: 64 << 20, maxEntries: 1000 };
const install = childInstaller((args) => [process.execPath, [HERD, ...args]]);
let box: Sandbox;
let bundle: Buffer;
let ref: BlobRef;
let blobFile: string;

beforeEach(async () => {
  box = await createSandbox();
  const src = join(box.root, 'app');
  await mkdir(join(src, 'lib'), { recursive: true });
  await writeFile(join(src, 'herd.json'), '{"command":["node","lib/server.js"]}\n');
  for (let i = 0; i < 20; i++) await writeFile(join(src, 'lib', `m${i}.bin`), randomBytes(8000 + i));
  const file = join(box.root, 'bundle.tar.gz');
  ref = await packDirectory({ dir: src, file, log: silentLogger() });
  bundle = await readFile(file);
  await mkdir(join(box.root, 'blobs'));
  blobFile = join(box.root, 'blobs', ref.digest.slice('sha256:'.length));
});
afterEach(async () => {
  await box.cleanup();
});

function chunked(bytes: Buffer, failAt?: number): Readable {
  return Readable.from((async function* () {
    for (let i = 0; i < bytes.length; i += 16 * 1024) {
      if (failAt !== undefined && i >= failAt) throw new Error('connection reset by the store');
      await new Promise((resolve) => setImmediate(resolve));
      yield bytes.subarray(i, i + 16 * 1024);
    }
  })());
}

const input = (body: Readable, expected: BlobRef = ref, log = silentLogger()) =>
  ({ body, expected, maxBundleBytes: 64 << 20, blobFile, dir: box.staging, limits: LIMITS, log });

describe('installing a bundle in a child process', () => {
  it('extracts and keeps the blob, which appears only once verified', async () => {
    const log = createLogger({ level: 'silent' }).child({ release: 'r1' });
    const result = await install(input(chunked(bundle), ref, log));
    expect(result.entries).toBe(22); // herd.json, lib/ and its 20 files
    expect(await describeTree(box.staging)).toContain('herd.json 644 37');
    expect(existsSync(blobFile)).toBe(true);
    expect(existsSync(`${blobFile}.part`)).toBe(false);
  });

  it('refuses a body whose digest is wrong as an IntegrityError, keeping no blob and no .part', async () => {
    const bad = Buffer.from(bundle);
    const at = bad.length - 20;
    bad.writeUInt8(bad.readUInt8(at) ^ 0xff, at);
    const err = await install(input(chunked(bad))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(existsSync(blobFile)).toBe(false);
    expect(existsSync(`${blobFile}.part`)).toBe(false);
  });

  it('refuses an unsafe archive as an UnsafeArchiveError', async () => {
    const evil = join(box.root, 'evil.tar.gz');
    await buildArchive(evil, [{ name: 'herd.json', type: 'file', data: '{}' }, { name: '../outside/pwned', type: 'file', data: 'x' }]);
    const { hashFile } = await import('../../agent/bundle/pack.ts');
    const evilRef = await hashFile(evil);
    const err = await install(input(chunked(await readFile(evil)), evilRef)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsafeArchiveError);
    expect(existsSync(join(box.root, 'outside'))).toBe(false);
  });

  it('passes on a download that fails halfway, stops the child and removes .part', async () => {
    const err = await install(input(chunked(bundle, bundle.length / 2))).catch((e: unknown) => e);
    expect(String(err)).toContain('connection reset by the store');
    expect(existsSync(`${blobFile}.part`)).toBe(false);
    expect(await readdir(join(box.root, 'blobs'))).toEqual([]);
  });
});
