// sha256 and byte count of a byte stream, computed while the bytes pass through, so
// packing, uploading and downloading each read their bytes exactly once.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { BlobRef } from '../store/schemas.ts';

export const DIGEST_PREFIX = 'sha256:';

export function formatDigest(hash: Hash): string {
  return `${DIGEST_PREFIX}${hash.digest('hex')}`;
}

export interface DigestMeterInput {
  /** Called after each chunk with the running byte count. */
  onProgress?: ((bytes: number) => void) | undefined;
}

/** A pass-through stage; `result()` gives the BlobRef once the stream has ended. */
export class DigestMeter extends Transform {
  readonly #hash = createHash('sha256');
  readonly #onProgress: ((bytes: number) => void) | undefined;
  #bytes = 0;
  #result: BlobRef | undefined;

  constructor(input: DigestMeterInput = {}) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    this.#onProgress = input.onProgress;
  }

  get bytes(): number {
    return this.#bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.#bytes += chunk.length;
    this.#onProgress?.(this.#bytes);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#result = { digest: formatDigest(this.#hash), size: this.#bytes };
    callback();
  }

  result(): BlobRef {
    if (!this.#result) throw new Error('DigestMeter.result() called before the stream ended');
    return this.#result;
  }
}
