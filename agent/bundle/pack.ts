// Packing a directory into a bundle (gzip'd tar) on the publisher's side, streamed to a
// file while its sha256 and size are computed, in one pass.
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, readdir, readlink, rm } from 'node:fs/promises';
import { join, relative, resolve, isAbsolute } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Pack } from 'tar';
import { ConfigError, HerdError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { BlobRef } from '../store/schemas.ts';
import { DigestMeter } from './digest.ts';
import { createEntryPolicy, NO_LIMITS } from './entry-policy.ts';

export { checkArchive, readArchiveFile } from './read-archive.ts';

/**
 * Every entry gets this mtime (like SOURCE_DATE_EPOCH): re-publishing the same tree
 * must give the same digest, so the blob is found already uploaded and the release is
 * recognised as the same one. Timestamps of a deployed tree carry no meaning anyway.
 */
export const BUNDLE_MTIME = new Date('2000-01-01T00:00:00Z');

export interface PackInput {
  dir: string;
  /** Where to write the .tar.gz; must not be inside `dir`. Removed again on failure. */
  file: string;
  log: Logger;
  onProgress?: (bytesWritten: number) => void;
}

interface TreeEntry {
  path: string;
  type: 'Directory' | 'File' | 'SymbolicLink';
  linkpath?: string;
}

/**
 * The tree under `root` in a fixed order (siblings sorted, parents before children),
 * refusing what agents would refuse: special files, and symlinks that point outside.
 */
async function listTree(root: string): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [];
  const policy = createEntryPolicy(NO_LIMITS);
  async function walk(relDir: string): Promise<void> {
    const names = (await readdir(join(root, relDir))).sort();
    for (const name of names) {
      const path = relDir ? `${relDir}/${name}` : name;
      const info = await lstat(join(root, path));
      let entry: TreeEntry;
      if (info.isDirectory()) entry = { path, type: 'Directory' };
      else if (info.isFile()) entry = { path, type: 'File' };
      else if (info.isSymbolicLink()) entry = { path, type: 'SymbolicLink', linkpath: await readlink(join(root, path)) };
      else throw new ConfigError(`${join(root, path)}: not a file, directory or symlink; a bundle can hold only those`);
      try {
        policy.plan({ ...entry, size: 0 });
      } catch (err) {
        throw new ConfigError(`${root}: agents would refuse this bundle: ${(err as Error).message}`, { cause: err });
      }
      entries.push(entry);
      if (entry.type === 'Directory') await walk(path);
    }
  }
  await walk('');
  return entries;
}

async function checkInput(dir: string, file: string): Promise<void> {
  const info = await lstat(dir).catch(() => null);
  if (!info) throw new ConfigError(`${dir}: no such directory`);
  if (!info.isDirectory()) throw new ConfigError(`${dir}: not a directory`);
  const rel = relative(dir, file);
  if (!rel.startsWith('..') && !isAbsolute(rel)) throw new ConfigError(`${file}: the bundle file cannot be inside ${dir}`);
}

/**
 * Write a deterministic gzip'd tar of `dir` to `file` as a stream and return its digest
 * and size. Same tree, same bytes: entries sorted, paths relative ('herd.json',
 * 'lib/x.js'), portable headers (no uid/gid/uname/atime/ctime), BUNDLE_MTIME for every
 * entry, and a gzip header with no timestamp. Symlinks are packed as symlinks.
 */
export async function packDirectory(input: PackInput): Promise<BlobRef> {
  const log = input.log.child({ module: 'bundle-pack' });
  const dir = resolve(input.dir);
  const file = resolve(input.file);
  await checkInput(dir, file);
  const tree = await listTree(dir);

  const pack = new Pack({ cwd: dir, portable: true, mtime: BUNDLE_MTIME, noDirRecurse: true, strict: true });
  for (const entry of tree) pack.add(entry.path);
  pack.end();
  const meter = new DigestMeter({ onProgress: input.onProgress });
  try {
    // Node's gzip writes MTIME 0 in the header, so the compressed bytes are reproducible too.
    await pipeline(Readable.from(pack), createGzip({ level: 6 }), meter, createWriteStream(file, { highWaterMark: 1 << 20 }));
  } catch (err) {
    await rm(file, { force: true });
    if (err instanceof HerdError) throw err;
    throw new HerdError(`packing ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const ref = meter.result();
  log.info({ dir, file, entries: tree.length, ...ref }, 'bundle packed');
  return ref;
}

/** sha256 and size of an existing file, streamed. ConfigError when it cannot be read. */
export async function hashFile(file: string): Promise<BlobRef> {
  const meter = new DigestMeter();
  try {
    await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), meter, async (source: AsyncIterable<Buffer>) => {
      for await (const _chunk of source); // drain: the meter has already hashed it
    });
  } catch (err) {
    throw new ConfigError(`${file}: cannot be read: ${(err as Error).message}`, { cause: err });
  }
  return meter.result();
}
