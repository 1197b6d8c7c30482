// Checks bytes from the store against the BlobRef a manifest promised, as they stream:
// nothing from the store is trusted, and an oversized object is cut off at the limit
// instead of being read to the end.
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { IntegrityError } from '../errors.ts';
import type { BlobRef } from '../store/schemas.ts';
import { formatDigest } from './digest.ts';

export interface VerifierInput {
  expected: BlobRef;
  /** Never pass more than this many bytes, whatever `expected.size` says. */
  maxBytes: number;
}

class Verifier extends Transform {
  readonly #expected: BlobRef;
  readonly #maxBytes: number;
  readonly #limit: number;
  readonly #hash = createHash('sha256');
  #bytes = 0;

  constructor(input: VerifierInput) {
    super({ readableHighWaterMark: 1 << 18, writableHighWaterMark: 1 << 18 });
    this.#expected = input.expected;
    this.#maxBytes = input.maxBytes;
    this.#limit = Math.min(input.expected.size, input.maxBytes);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#bytes + chunk.length > this.#limit) {
      callback(new IntegrityError(this.#tooLarge(this.#bytes + chunk.length)));
      return;
    }
    this.#bytes += chunk.length;
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const { digest, size } = this.#expected;
    if (this.#bytes !== size) {
      const why = size > this.#maxBytes ? ` (and ${size} is above the limit of ${this.#maxBytes})` : '';
      callback(new IntegrityError(`blob ${digest}: expected ${size} bytes, got ${this.#bytes}${why}`));
      return;
    }
    const got = formatDigest(this.#hash);
    if (got !== digest) {
      callback(new IntegrityError(`blob digest mismatch: expected ${digest}, got ${got} (${size} bytes)`));
      return;
    }
    callback();
  }

  #tooLarge(atLeast: number): string {
    const { digest, size } = this.#expected;
    const limit = size <= this.#maxBytes ? `expected ${size} bytes` : `limit is ${this.#maxBytes} bytes (expected ${size})`;
    return `blob ${digest}: too large, ${limit}, got at least ${atLeast}`;
  }
}

/**
 * A pass-through stage that fails with IntegrityError as soon as more than
 * min(expected.size, maxBytes) bytes arrive, and at the end if size or sha256 differ.
 */
export function createVerifier(input: VerifierInput): Transform {
  return new Verifier(input);
}
