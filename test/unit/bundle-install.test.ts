// The fetch path in one pass: verify, keep a copy, extract. The blob file must appear
// only once its bytes verified; any failure leaves neither the blob nor its .part.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { installBundle } from '../../agent/bundle/install.ts';
import { hashFile, packDirectory } from '../../agent/bundle/pack.ts';
import { IntegrityError, UnsafeArchiveError } from '../../agent/errors.ts';
import { createLogger, silentLogger } from '../../agent/log.ts';
import type { BlobRef } from '../../agent/store/schemas.ts';
import { buildArchive, createSandbox, describeTree, type Sandbox } from '../fixtures/archives/hostile.ts';

const LIMITS = { maxUnpackedBytes: 64 << 20, maxEntries: 1000 };
let box: Sandbox;
let bundle: Buffer;
let ref: BlobRef;
let src: string;
let blobFile: string;

beforeEach(async () => {
  box = await createSandbox();
  src = join(box.root, 'app');
  await mkdir(join(src, 'lib'), { recursive: true });
  await writeFile(join(src, 'herd.json'), '{"command":["node","lib/server.js"]}\n');
  for (let i = 0; i < 40; i++) await writeFile(join(src, 'lib', `m${i}.bin`), randomBytes(8000 + i));
  const file = join(box.root, 'bundle.tar.gz');
  ref = await packDirectory({ dir: src, file, log: silentLogger() });
  bundle = await readFile(file);
  expect(bundle.length).toBeGreaterThan(200_000); // many network chunks
  await mkdir(join(box.root, 'blobs'));
  blobFile = join(box.root, 'blobs', ref.digest.slice('sha256:'.length));
});
afterEach(async () => {
  await box.cleanup();
});

/** A network-like body: 16 KiB chunks arriving over time, with a look at the disk halfway (the rest waits for it). */
function networkBody(bytes: Buffer, atHalf?: () => unknown): Readable {
  return Readable.from((async function* () {
    const chunk = 16 * 1024;
    const half = Math.floor(bytes.length / chunk / 2) * chunk;
    for (let i = 0; i < bytes.length; i += chunk) {
      if (i === half) await atHalf?.();
      await new Promise((resolve) => setImmediate(resolve));
      yield bytes.subarray(i, i + chunk);
    }
  })());
}

const install = (body: Readable, expected: BlobRef = ref, log = silentLogger()) =>
  installBundle({ body, expected, maxBundleBytes: 64 << 20, blobFile, dir: box.staging, limits: LIMITS, log });

describe('installBundle', () => {
  it('extracts a good bundle and keeps the blob, which appears only once verified', async () => {
    let midway: { blob: boolean; part: boolean } | undefined;
    const lines: string[] = [];
    const log = createLogger({ level: 'info', destination: { write: (line: string) => lines.push(line) } });

    const result = await install(networkBody(bundle, async () => {
      // The .part is opened asynchronously, later on a loaded machine: the body waits for it
      // (the install cannot finish meanwhile), then the disk is looked at.
      await vi.waitFor(() => expect(existsSync(`${blobFile}.part`)).toBe(true), { timeout: 5_000 }).catch(() => {});
      midway = { blob: existsSync(blobFile), part: existsSync(`${blobFile}.part`) };
    }), ref, log);

    expect(midway).toEqual({ blob: false, part: true });
    expect(existsSync(`${blobFile}.part`)).toBe(false);
    expect((await readFile(blobFile)).equals(bundle)).toBe(true);
    expect(await hashFile(blobFile)).toEqual(ref);
    expect(await describeTree(box.staging)).toEqual(await describeTree(src));
    expect(result.entries).toBe(42);

    const done = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'bundle verified and extracted');
    expect(done).toMatchObject({ module: 'bundle-install', digest: ref.digest, size: ref.size, entries: 42 });
  });

  it('works without a blob file', async () => {
    const result = await installBundle({ body: networkBody(bundle), expected: ref, maxBundleBytes: 64 << 20, dir: box.staging, limits: LIMITS, log: silentLogger() });
    expect(result.entries).toBe(42);
    expect(existsSync(blobFile)).toBe(false);
  });

  it('refuses a body with one byte flipped where gunzip cannot see it: digest mismatch, no blob, no .part', async () => {
    const corrupt = Buffer.from(bundle);
    corrupt.writeUInt8(corrupt.readUInt8(5) ^ 0x01, 5); // the gzip header's MTIME: the archive still unpacks, only the digest tells
    const err = await install(networkBody(corrupt)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toContain(`expected ${ref.digest}`);
    expect(existsSync(blobFile)).toBe(false);
    expect(existsSync(`${blobFile}.part`)).toBe(false);
  });

  it('refuses a body with one byte flipped in the compressed data, no blob, no .part', async () => {
    const corrupt = Buffer.from(bundle);
    const middle = Math.floor(corrupt.length / 2);
    corrupt.writeUInt8(corrupt.readUInt8(middle) ^ 0x40, middle);
    const body = networkBody(corrupt);
    await expect(install(body)).rejects.toBeInstanceOf(IntegrityError);
    expect(body.destroyed).toBe(true);
    expect(existsSync(blobFile)).toBe(false);
    expect(existsSync(`${blobFile}.part`)).toBe(false);
  });

  it('stops a body longer than promised, no blob, no .part', async () => {
    const body = networkBody(Buffer.concat([bundle, Buffer.alloc(1 << 20)]));
    await expect(install(body)).rejects.toThrow(/too large/);
    expect(existsSync(`${blobFile}.part`)).toBe(false);
    expect(existsSync(blobFile)).toBe(false);
  });

  it('refuses an unsafe archive whose digest is right, keeping no blob', async () => {
    const evil = join(box.root, 'evil.tar.gz');
    await buildArchive(evil, [{ name: 'herd.json', type: 'file', data: '{}' }, { name: '../outside/pwned', type: 'file', data: 'x' }]);
    const before = await box.outsideTree();
    const evilRef = await hashFile(evil);
    blobFile = join(box.root, 'blobs', 'evil');
    const body = networkBody(await readFile(evil));
    await expect(install(body, evilRef)).rejects.toBeInstanceOf(UnsafeArchiveError);
    expect(body.destroyed).toBe(true);
    expect(existsSync(blobFile)).toBe(false);
    expect(existsSync(`${blobFile}.part`)).toBe(false);
    expect(await box.outsideTree()).toEqual(before);
  });

  it('passes on a failing body (the network) and removes .part', async () => {
    const body = Readable.from((async function* () {
      yield bundle.subarray(0, 64 * 1024);
      await new Promise((resolve) => setImmediate(resolve));
      throw new Error('connection reset by peer');
    })());
    await expect(install(body)).rejects.toThrow('connection reset by peer');
    expect(existsSync(`${blobFile}.part`)).toBe(false);
    expect(existsSync(blobFile)).toBe(false);
  });
});
