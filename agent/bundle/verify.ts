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
  #last: Buffer | null = null;

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
    // The chunk that completes the blob goes on only at the end, once no byte more came and
    // the digest checks out: a changed blob is refused for its digest, before gunzip
    // downstream can trip over the trailer first (which one spoke first used to depend on
    // how the bytes were chunked).
    if (this.#bytes === this.#expected.size) {
      this.#last = chunk;
      callback();
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const { digest, size } = this.#expected;
    if (this.#bytes !== size) {
      const why = size > this.#maxBytes ? ` (and ${size} is above the limit of ${this.#maxBytes})` : '';
      callback(new IntegrityError(`blob ${digest}: expected ${size} bytes, got ${this.#bytes}${why}`));
      return;
    }
    const refused = this.#digestMismatch();
    if (refused) {
      callback(refused);
      return;
    }
    if (this.#last) this.push(this.#last);
    callback();
  }

  #digestMismatch(): IntegrityError | null {
    const { digest, size } = this.#expected;
    const got = formatDigest(this.#hash);
    return got === digest ? null : new IntegrityError(`blob digest mismatch: expected ${digest}, got ${got} (${size} bytes)`);
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
