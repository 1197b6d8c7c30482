// The rules an archive entry must pass before anything touches the disk, as a pure,
// stateful decision: given the entries seen so far, what may this one do? Extraction
// (extract-sink.ts), archive checks before publishing (read-archive.ts) and packing
// (pack.ts) all ask the same policy, so a bundle herd packs is one herd will unpack.
import { UnsafeArchiveError } from '../errors.ts';

export interface ArchiveLimits {
  /** Body bytes of all entries together. */
  maxUnpackedBytes: number;
  /** Entries of any kind (pax and GNU long-name headers are not entries). */
  maxEntries: number;
}

export const NO_LIMITS: ArchiveLimits = { maxUnpackedBytes: Infinity, maxEntries: Infinity };

/** What the policy needs of an entry: node-tar's ReadEntry fits. */
export interface ArchiveEntry {
  path: string;
  /** node-tar's type name: 'File', 'Directory', 'SymbolicLink', 'Link', 'FIFO', ... */
  type: string;
  linkpath?: string | undefined;
  mode?: number | undefined;
  size: number;
}

interface PlanBase {
  /** Normalized path relative to the extraction root: no '.', '..' or empty segments. */
  path: string;
  /** Missing parent directories to create first, outermost first. */
  parents: string[];
}
export type EntryPlan =
  | { kind: 'skip'; reason: string }
  | (PlanBase & { kind: 'directory'; mode: number; exists: boolean })
  | (PlanBase & { kind: 'file'; mode: number; size: number })
  | (PlanBase & { kind: 'symlink'; target: string })
  | (PlanBase & { kind: 'hardlink'; target: string });

type Kind = 'directory' | 'file' | 'symlink';

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const TYPE_WORDS: Record<string, string> = {
  CharacterDevice: 'a character device',
  BlockDevice: 'a block device',
  FIFO: 'a FIFO',
  GNUDumpDir: 'a GNU dump directory',
};

/** Permission bits only (no setuid/setgid/sticky), and enough for the owner to go on. */
export function safeMode(mode: number | undefined, kind: 'directory' | 'file'): number {
  if (kind === 'directory') return ((mode ?? 0o755) & 0o777) | 0o700;
  return ((mode ?? 0o644) & 0o777) | 0o400;
}

/**
 * Split an entry path into safe segments ('' and '.' dropped), or say why it is unsafe.
 * Returns '' for the archive root itself ('./').
 */
export function normalizeEntryPath(raw: string): string {
  if (raw.includes('\0')) throw new UnsafeArchiveError(`entry ${JSON.stringify(raw)}: path contains a NUL byte`);
  if (raw.startsWith('/')) throw new UnsafeArchiveError(`entry ${JSON.stringify(raw)}: absolute path`);
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw new UnsafeArchiveError(`entry ${JSON.stringify(raw)}: path contains '..'`);
  return segments.join('/');
}

/**
 * A symlink target is accepted only in the form `(../)*name(/name)*`, relative, whose
 * leading '..'s stay inside the root from the link's own directory. Since no entry may
 * be written through a symlink, that directory is a real one, and a walk that only climbs
 * first and then descends can never leave the root, whatever later links are made.
 */
export function checkSymlinkTarget(linkPath: string, target: string): void {
  const where = `entry ${JSON.stringify(linkPath)}: symlink to ${JSON.stringify(target)}`;
  if (target.includes('\0')) throw new UnsafeArchiveError(`${where}: target contains a NUL byte`);
  if (target.startsWith('/')) throw new UnsafeArchiveError(`${where}: absolute target`);
  const segments = target.split('/').filter((s) => s !== '' && s !== '.');
  const ups = segments.findIndex((s) => s !== '..');
  const climbs = ups === -1 ? segments.length : ups;
  if (segments.slice(climbs).includes('..')) {
    throw new UnsafeArchiveError(`${where}: '..' after a name in the target`);
  }
  const depth = linkPath.split('/').length - 1;
  if (climbs > depth) throw new UnsafeArchiveError(`${where}: target points outside the archive`);
}

/** Case- and Unicode-folded key, so a case-insensitive filesystem cannot alias a symlink. */
function fold(path: string): string {
  return path.normalize('NFC').toLowerCase();
}

export interface EntryPolicy {
  /** Decide what `entry` may do, recording it; throws UnsafeArchiveError to refuse the archive. */
  plan(entry: ArchiveEntry): EntryPlan;
  /** Count body bytes actually seen, beyond what headers declared (defence in depth). */
  countBytes(bytes: number, path: string): void;
  readonly entries: number;
  readonly bytes: number;
}

export function createEntryPolicy(limits: ArchiveLimits): EntryPolicy {
  const kinds = new Map<string, Kind>();
  const foldedNonDirs = new Map<string, { path: string; kind: Kind }>();
  let entries = 0;
  let declaredBytes = 0;
  let seenBytes = 0;

  function refuse(raw: string, why: string): never {
    throw new UnsafeArchiveError(`entry ${JSON.stringify(raw)}: ${why}`);
  }

  function record(path: string, kind: Kind): void {
    kinds.set(path, kind);
    if (kind !== 'directory') foldedNonDirs.set(fold(path), { path, kind });
  }

  /** Parent directories of `path` that do not exist yet; refuses a parent that is a link or file. */
  function missingParents(raw: string, path: string): string[] {
    const segments = path.split('/');
    const missing: string[] = [];
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join('/');
      const nonDir = foldedNonDirs.get(fold(parent));
      if (nonDir) {
        const what = nonDir.kind === 'symlink' ? 'a symlink' : 'a file';
        refuse(raw, `would be written through ${what} (${JSON.stringify(nonDir.path)})`);
      }
      if (!kinds.has(parent)) missing.push(parent);
    }
    return missing;
  }

  function plan(entry: ArchiveEntry): EntryPlan {
    entries += 1;
    if (entries > limits.maxEntries) refuse(entry.path, `more than ${limits.maxEntries} entries (limits.maxEntries)`);
    declaredBytes += entry.size;
    if (declaredBytes > limits.maxUnpackedBytes) {
      refuse(entry.path, `unpacked size would pass ${limits.maxUnpackedBytes} bytes (limits.maxUnpackedBytes)`);
    }

    const isDir = entry.type === 'Directory';
    const isFile = FILE_TYPES.has(entry.type);
    if (!isDir && !isFile && entry.type !== 'SymbolicLink' && entry.type !== 'Link') {
      refuse(entry.path, `is ${TYPE_WORDS[entry.type] ?? `an unsupported entry type (${entry.type})`}; only files, directories and links are allowed`);
    }
    const path = normalizeEntryPath(entry.path);
    if (path === '') {
      if (isDir) return { kind: 'skip', reason: 'archive root' };
      refuse(entry.path, 'names the archive root but is not a directory');
    }

    const existing = kinds.get(path);
    if (existing !== undefined && !(isDir && existing === 'directory')) {
      refuse(entry.path, 'appears twice in the archive (or replaces an earlier entry)');
    }
    const parents = missingParents(entry.path, path);
    for (const parent of parents) record(parent, 'directory');

    if (isDir) {
      record(path, 'directory');
      return { kind: 'directory', path, parents, mode: safeMode(entry.mode, 'directory'), exists: existing === 'directory' };
    }
    if (isFile) {
      record(path, 'file');
      return { kind: 'file', path, parents, mode: safeMode(entry.mode, 'file'), size: entry.size };
    }
    const linkpath = entry.linkpath ?? '';
    if (linkpath === '') refuse(entry.path, 'link without a target');
    if (entry.type === 'SymbolicLink') {
      checkSymlinkTarget(path, linkpath);
      record(path, 'symlink');
      return { kind: 'symlink', path, parents, target: linkpath };
    }
    let target: string;
    try {
      target = normalizeEntryPath(linkpath);
    } catch {
      refuse(entry.path, `hardlink to ${JSON.stringify(linkpath)}, which is outside the archive`);
    }
    if (kinds.get(target) !== 'file') {
      refuse(entry.path, `hardlink to ${JSON.stringify(linkpath)}, which is not an earlier file in the archive`);
    }
    record(path, 'file');
    return { kind: 'hardlink', path, parents, target };
  }

  function countBytes(bytes: number, path: string): void {
    seenBytes += bytes;
    if (seenBytes > limits.maxUnpackedBytes) {
      refuse(path, `unpacked size passed ${limits.maxUnpackedBytes} bytes (limits.maxUnpackedBytes)`);
    }
  }

  return {
    plan,
    countBytes,
    get entries() { return entries; },
    get bytes() { return seenBytes; },
  };
}
