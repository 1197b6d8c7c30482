// The verifier between the store and everything else: bytes pass only if they are the
// promised ones, and an oversized object is cut off early, not read to the end.
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createVerifier } from '../../agent/bundle/verify.ts';
import { IntegrityError } from '../../agent/errors.ts';
import type { BlobRef } from '../../agent/store/schemas.ts';

const MIB = 1 << 20;

function refOf(bytes: Buffer): BlobRef {
  return { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length };
}

function chunksOf(bytes: Buffer, size = 64 * 1024): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
}

/** Runs `source` through a verifier into memory; returns what came out, or the error. */
async function verify(source: Readable, expected: BlobRef, maxBytes = 64 * MIB): Promise<{ out: Buffer; err?: unknown }> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      parts.push(chunk);
      cb();
    },
  });
  const err = await pipeline(source, createVerifier({ expected, maxBytes }), sink).then(() => undefined, (e: unknown) => e);
  return { out: Buffer.concat(parts), err };
}

/** An endless source of 64 KiB chunks that counts how many bytes were pulled from it. */
function endlessSource(): { source: Readable; pulled: () => number } {
  let pulled = 0;
  const chunk = Buffer.alloc(64 * 1024, 1);
  const source = new Readable({
    read() {
      pulled += chunk.length;
      this.push(chunk);
    },
  });
  return { source, pulled: () => pulled };
}

describe('createVerifier', () => {
  const bytes = randomBytes(3 * MIB + 17);

  it('passes the exact bytes through when digest and size match', async () => {
    const { out, err } = await verify(Readable.from(chunksOf(bytes)), refOf(bytes));
    expect(err).toBeUndefined();
    expect(out.equals(bytes)).toBe(true);
  });

  it('fails on a wrong digest, naming expected and got', async () => {
    const flipped = Buffer.from(bytes);
    flipped.writeUInt8(flipped.readUInt8(12345) ^ 0xff, 12345);
    const { err } = await verify(Readable.from(chunksOf(flipped)), refOf(bytes));
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toContain(`expected ${refOf(bytes).digest}`);
    expect((err as Error).message).toContain(`got ${refOf(flipped).digest}`);
  });

  it('fails on a short body, naming both sizes', async () => {
    const { err } = await verify(Readable.from(chunksOf(bytes.subarray(0, MIB))), refOf(bytes));
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(new RegExp(`expected ${bytes.length} bytes, got ${MIB}`));
  });

  it('stops a body larger than expected as soon as it passes the expected size', async () => {
    const { source, pulled } = endlessSource();
    const expected = { digest: `sha256:${'0'.repeat(64)}`, size: MIB };
    const { out, err } = await verify(source, expected);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/too large, expected 1048576 bytes/);
    expect(out.length).toBeLessThanOrEqual(MIB);
    expect(pulled()).toBeLessThan(8 * MIB); // the source was not drained: it is endless
    expect(source.destroyed).toBe(true);
  });

  it('stops at maxBytes when the manifest claims more than the limit allows', async () => {
    const { source, pulled } = endlessSource();
    const expected = { digest: `sha256:${'0'.repeat(64)}`, size: 2 ** 40 };
    const { out, err } = await verify(source, expected, 2 * MIB);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/limit is 2097152 bytes/);
    expect(out.length).toBeLessThanOrEqual(2 * MIB);
    expect(pulled()).toBeLessThan(10 * MIB);
  });

  it('accepts an empty body for an empty blob', async () => {
    const { err } = await verify(Readable.from([]), refOf(Buffer.alloc(0)));
    expect(err).toBeUndefined();
  });
});

describe('the verifier in front of gunzip', () => {
  it('refuses a gzip whose trailer was changed for its digest, even when it arrives in one chunk', async () => {
    const { gzipSync, createGunzip } = await import('node:zlib');
    const { createHash } = await import('node:crypto');
    const { Readable, Writable } = await import('node:stream');
    const { pipeline } = await import('node:stream/promises');
    const good = gzipSync(Buffer.from('hello, herd\n'.repeat(100)));
    const expected = { digest: `sha256:${createHash('sha256').update(good).digest('hex')}`, size: good.length };
    const bad = Buffer.from(good);
    const crcAt = bad.length - 8; // gzip's trailer: CRC-32, then the size
    bad.writeUInt8(bad.readUInt8(crcAt) ^ 0xff, crcAt);
    const sink = new Writable({ write: (_chunk, _enc, cb) => cb() });
    const err = await pipeline(Readable.from([bad]), createVerifier({ expected, maxBytes: 1 << 20 }), createGunzip(), sink).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(String(err)).toContain('blob digest mismatch');
  });
});
