// The fetch path used by the agent and `herd pull`: one pass over the network bytes,
//   body -> verifier -> (copy to <blobFile>.part) -> gunzip -> safe extraction,
// pipelined with backpressure, so a bundle is verified, cached and unpacked while it
// downloads instead of being downloaded first and read again.
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { describeError } from '../errors.ts';
import { fsyncDir } from '../releases/atomic.ts';
import type { Logger } from '../log.ts';
import type { BlobRef } from '../store/schemas.ts';
import type { ArchiveLimits } from './entry-policy.ts';
import { archiveError, assertEmptyDirectory, createGunzipStage, type ExtractResult } from './extract.ts';
import { ExtractSink } from './extract-sink.ts';
import { createVerifier } from './verify.ts';

export interface InstallInput {
  /** The bundle's bytes (gzip'd tar); destroyed on any failure. */
  body: Readable;
  expected: BlobRef;
  maxBundleBytes: number;
  /** Where to keep a verified copy of the bytes; written as `${blobFile}.part`, renamed when verified. */
  blobFile?: string;
  /** An existing, empty staging directory. */
  dir: string;
  limits: ArchiveLimits;
  log: Logger;
}

/**
 * Hands each inflated chunk on from a microtask rather than synchronously, so gunzip starts on
 * the next chunk while the extractor parses and writes this one: the two overlap, as gzip and
 * tar do in a shell pipeline (measured ~7% faster in the pull benchmark).
 */
function createHandOff(): Transform {
  return new Transform({
    readableHighWaterMark: 1 << 20,
    writableHighWaterMark: 1 << 20,
    transform(chunk: Buffer, _encoding, callback) {
      queueMicrotask(() => callback(null, chunk));
    },
  });
}

/** Passes chunks on and copies them to a file; ends the copy only once its input has ended. */
class FileTee extends Transform {
  readonly #out: Writable;

  constructor(out: Writable) {
    super({ readableHighWaterMark: 1 << 18, writableHighWaterMark: 1 << 18 });
    this.#out = out;
    out.on('error', (err) => this.destroy(err));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.push(chunk);
    if (this.#out.write(chunk)) callback();
    else this.#out.once('drain', () => callback());
  }

  override _flush(callback: TransformCallback): void {
    // Reached only after the verifier upstream has passed the digest and size; the copy
    // is fsynced (flush: true) and closed before the pipeline can succeed.
    this.#out.end();
    finished(this.#out).then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (error) this.#out.destroy(); // after a clean end _flush has closed it already
    callback(error);
  }
}

/**
 * Verify `body` against `expected` and extract it into `dir`, keeping a copy at
 * `blobFile` when given. The copy appears (fsynced, renamed from .part) only when the
 * digest and size verified; on any failure .part is removed and the error thrown.
 * The extracted content in `dir` is the caller's to remove on failure: it owns `dir`.
 */
export async function installBundle(input: InstallInput): Promise<ExtractResult> {
  const log = input.log.child({ module: 'bundle-install' });
  const { expected, blobFile } = input;
  const partFile = blobFile === undefined ? undefined : `${blobFile}.part`;
  let out: Writable | undefined;
  try {
    await assertEmptyDirectory(input.dir);
    const sink = new ExtractSink({ dir: input.dir, limits: input.limits, log });
    const verifier = createVerifier({ expected, maxBytes: input.maxBundleBytes });
    if (partFile) {
      out = createWriteStream(partFile, { mode: 0o644, flush: true, highWaterMark: 1 << 18 });
      await pipeline(input.body, verifier, new FileTee(out), createGunzipStage(), createHandOff(), sink);
      await rename(partFile, blobFile!);
      await fsyncDir(dirname(blobFile!));
    } else {
      await pipeline(input.body, verifier, createGunzipStage(), createHandOff(), sink);
    }
    const result = sink.result();
    log.info({ digest: expected.digest, size: expected.size, ...result }, 'bundle verified and extracted');
    return result;
  } catch (err) {
    input.body.destroy();
    if (out) {
      out.destroy();
      await finished(out).catch(() => undefined); // closed: no write can land after the rm
    }
    if (partFile) await rm(partFile, { force: true });
    const error = archiveError(err);
    log.warn({ digest: expected.digest, err: describeError(error) }, 'bundle install failed');
    throw error;
  }
}
