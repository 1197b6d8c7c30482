// Reading a ready .tar.gz on the publisher's side (`herd publish --code app.tar.gz`):
// take one file out of it (herd.json), or check that the agents would accept all of it.
// Failures here are the operator's input, so they are ConfigError (exit 2).
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { ReadEntry } from 'tar';
import { ConfigError, HerdError } from '../errors.ts';
import { createEntryPolicy, NO_LIMITS, type ArchiveLimits } from './entry-policy.ts';
import { archiveError, createGunzipStage } from './extract.ts';
import { createTarSink } from './tar-sink.ts';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** Refuse (ConfigError) a file that is missing or does not start like gzip. */
async function checkGzipMagic(file: string): Promise<void> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    throw new ConfigError(`${file}: cannot be read: ${(err as Error).message}`, { cause: err });
  }
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    if (bytesRead < 2 || !buffer.equals(GZIP_MAGIC)) throw new ConfigError(`${file}: not a gzip'd tar archive (.tar.gz)`);
  } finally {
    await handle.close();
  }
}

function asConfigError(file: string, err: unknown): unknown {
  const mapped = archiveError(err);
  if (mapped instanceof ConfigError) return mapped;
  if (mapped instanceof HerdError) return new ConfigError(`${file}: ${mapped.message}`, { cause: mapped });
  return mapped;
}

/** Path of an entry with './' and empty segments dropped, for matching names only. */
function comparablePath(path: string): string {
  return path.split('/').filter((s) => s !== '' && s !== '.').join('/');
}

export interface ReadArchiveFileInput {
  file: string;
  /** e.g. 'herd.json'; also matches './herd.json' as GNU tar writes it. */
  name: string;
  maxBytes: number;
}

type Lookup = { data: Buffer } | { linkTo: string } | null;

/** One pass over the archive for the entry named `wanted`, stopping as soon as it is read. */
async function lookUp(input: ReadArchiveFileInput, wanted: string): Promise<Lookup> {
  const { file, maxBytes } = input;
  const stop = new AbortController();
  let found: Lookup = null;
  const sink = createTarSink({
    onEntry(entry: ReadEntry) {
      if (found || comparablePath(entry.path) !== wanted) {
        entry.resume();
        return;
      }
      if (entry.type === 'Link' && entry.linkpath) {
        found = { linkTo: comparablePath(entry.linkpath) };
        stop.abort();
      }
      if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'ContiguousFile') {
        entry.resume();
        return;
      }
      if (entry.size > maxBytes) throw new ConfigError(`${file}: ${input.name} is ${entry.size} bytes, more than ${maxBytes}`);
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => {
        found = { data: Buffer.concat(chunks) };
        stop.abort();
      });
    },
  });
  try {
    await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), createGunzipStage(), sink, { signal: stop.signal });
  } catch (err) {
    if (found) return found;
    throw asConfigError(file, err);
  }
  return found;
}

/**
 * Contents of the regular file `name` in the .tar.gz `file`, or null when absent. Stops
 * reading once found (a hardlinked name costs a second pass for its target). ConfigError
 * when the file is not a valid gzip'd tar or the entry is larger than maxBytes.
 */
export async function readArchiveFile(input: ReadArchiveFileInput): Promise<Buffer | null> {
  await checkGzipMagic(input.file);
  let wanted = comparablePath(input.name);
  for (let pass = 0; pass < 3; pass++) {
    const found = await lookUp(input, wanted);
    if (found === null) return null;
    if ('data' in found) return found.data;
    wanted = found.linkTo;
  }
  return null;
}

export interface CheckArchiveInput {
  file: string;
  /** The limits agents will apply; none by default. */
  limits?: ArchiveLimits;
}

/**
 * Read the whole .tar.gz `file` and apply the same entry rules as extraction, writing
 * nothing: a ConfigError names the first entry agents would refuse.
 */
export async function checkArchive(input: CheckArchiveInput): Promise<{ entries: number; bytes: number }> {
  const { file } = input;
  await checkGzipMagic(file);
  const policy = createEntryPolicy(input.limits ?? NO_LIMITS);
  const sink = createTarSink({
    onEntry(entry: ReadEntry) {
      policy.plan(entry);
      entry.on('data', (chunk: Buffer) => policy.countBytes(chunk.length, entry.path));
    },
  });
  try {
    await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), createGunzipStage(), sink);
  } catch (err) {
    throw asConfigError(file, err);
  }
  return { entries: policy.entries, bytes: policy.bytes };
}
