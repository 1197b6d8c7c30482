// Safe, streaming extraction of a gzip'd tar into a staging directory: every entry is
// checked before it touches the disk (see entry-policy.ts), limits are counted while
// streaming, and any refusal rejects the whole archive and stops the source.
import { opendir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, type Gunzip } from 'node:zlib';
import { HerdError, IntegrityError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ArchiveLimits } from './entry-policy.ts';
import { ExtractSink, type ExtractResult } from './extract-sink.ts';

export type { ExtractResult } from './extract-sink.ts';

export interface ExtractInput {
  /** gzip'd tar bytes; destroyed on any failure. */
  source: Readable;
  /** An existing, empty staging directory. The caller removes it when this rejects. */
  dir: string;
  limits: ArchiveLimits;
  log: Logger;
}

/** Large output chunks: fewer, bigger writes into the tar parser and onto the disk. */
export function createGunzipStage(): Gunzip {
  return createGunzip({ chunkSize: 256 * 1024 });
}

/**
 * Extract `source` into `dir`, refusing the whole archive (UnsafeArchiveError) on an
 * entry that could escape `dir`, a special file, or a limit passed, and failing with
 * IntegrityError on corrupt or truncated gzip or tar. Never writes outside `dir`.
 */
export async function extractSafely(input: ExtractInput): Promise<ExtractResult> {
  const log = input.log.child({ module: 'bundle-extract' });
  const dir = resolve(input.dir);
  try {
    await assertEmptyDirectory(dir);
  } catch (err) {
    input.source.destroy();
    throw err;
  }
  const sink = new ExtractSink({ dir, limits: input.limits, log });
  try {
    await pipeline(input.source, createGunzipStage(), sink);
  } catch (err) {
    throw archiveError(err);
  }
  const result = sink.result();
  log.debug({ dir, ...result }, 'archive extracted');
  return result;
}

/** The staging directory must start empty: the safety rules assume only our own entries exist in it. */
export async function assertEmptyDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await opendir(dir);
  } catch (err) {
    throw new HerdError(`staging directory ${dir} cannot be used: ${(err as Error).message}`, { cause: err });
  }
  try {
    if ((await handle.read()) !== null) throw new HerdError(`staging directory ${dir} is not empty`);
  } finally {
    await handle.close();
  }
}

/** zlib failures become IntegrityError; herd's own errors and the source's errors pass as they are. */
export function archiveError(err: unknown): unknown {
  if (err instanceof HerdError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new IntegrityError(`corrupt gzip data: ${(err as Error).message}`, { cause: err });
  }
  return err;
}
