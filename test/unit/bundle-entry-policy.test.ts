// The entry rules as a table: sequences of archive entries, and what the policy makes
// of the last one. Pure: nothing here touches the disk.
import { describe, expect, it } from 'vitest';
import { checkSymlinkTarget, createEntryPolicy, normalizeEntryPath, type ArchiveEntry } from '../../agent/bundle/entry-policy.ts';
import { UnsafeArchiveError } from '../../agent/errors.ts';

const LIMITS = { maxUnpackedBytes: 1000, maxEntries: 10 };
const file = (path: string, size = 0, mode = 0o644): ArchiveEntry => ({ path, type: 'File', size, mode });
const dir = (path: string, mode = 0o755): ArchiveEntry => ({ path, type: 'Directory', size: 0, mode });
const sym = (path: string, linkpath: string): ArchiveEntry => ({ path, type: 'SymbolicLink', linkpath, size: 0 });
const hard = (path: string, linkpath: string): ArchiveEntry => ({ path, type: 'Link', linkpath, size: 0 });

function planAll(entries: ArchiveEntry[], limits = LIMITS) {
  const policy = createEntryPolicy(limits);
  return entries.map((e) => policy.plan(e)).at(-1);
}

describe('normalizeEntryPath', () => {
  it.each([
    ['herd.json', 'herd.json'],
    ['./herd.json', 'herd.json'],
    ['./lib//x.js', 'lib/x.js'],
    ['lib/./x/', 'lib/x'],
    ['./', ''],
    ['..foo/bar..', '..foo/bar..'], // dots inside names are names
  ])('%j -> %j', (raw, expected) => {
    expect(normalizeEntryPath(raw)).toBe(expected);
  });

  it.each([['/etc/passwd'], ['../x'], ['a/../../x'], ['a/..'], ['a\0b']])('refuses %j', (raw) => {
    expect(() => normalizeEntryPath(raw)).toThrow(UnsafeArchiveError);
  });
});

describe('checkSymlinkTarget', () => {
  it.each([
    ['a', 'b'],
    ['lib/x', '../herd.json'],
    ['a/b/c', '../../d/e'],
    ['a/b/c', '../..'],
    ['a/root', '..'],
    ['a', '.'],
    ['node_modules/.bin/tsc', '../typescript/bin/tsc'],
  ])('accepts %j -> %j', (link, target) => {
    expect(() => checkSymlinkTarget(link, target)).not.toThrow();
  });

  it.each([
    ['a', '/etc', /absolute target/],
    ['a', '..', /outside/],
    ['lib/x', '../../etc', /outside/],
    ['a/b', 'c/../..', /'\.\.' after a name/],
    ['x', 'd/s/..', /'\.\.' after a name/],
  ])('refuses %j -> %j', (link, target, why) => {
    expect(() => checkSymlinkTarget(link, target)).toThrow(why);
  });
});

describe('createEntryPolicy', () => {
  it('plans files with safe modes and the parents they need', () => {
    expect(planAll([file('a/b/c.txt', 5, 0o4755)])).toEqual({ kind: 'file', path: 'a/b/c.txt', parents: ['a', 'a/b'], mode: 0o755, size: 5 });
    expect(planAll([dir('a/'), file('a/c.txt', 0, 0o000)])).toEqual({ kind: 'file', path: 'a/c.txt', parents: [], mode: 0o400, size: 0 });
    expect(planAll([dir('locked/', 0o1555)])).toMatchObject({ kind: 'directory', mode: 0o755, exists: false });
    expect(planAll([file('a/x'), dir('a/')])).toMatchObject({ kind: 'directory', exists: true });
    expect(planAll([dir('./')])).toEqual({ kind: 'skip', reason: 'archive root' });
  });

  it('accepts hardlinks to earlier files only', () => {
    expect(planAll([file('a'), hard('b', './a')])).toEqual({ kind: 'hardlink', path: 'b', parents: [], target: 'a' });
    expect(() => planAll([dir('d/'), hard('b', 'd')])).toThrow(/not an earlier file/);
    expect(() => planAll([file('a'), sym('s', 'a'), hard('b', 's')])).toThrow(/not an earlier file/);
  });

  it.each([
    ['a duplicate file', [file('a'), file('a')], /appears twice/],
    ['a symlink replacing a directory', [dir('a/'), sym('a', 'b')], /appears twice/],
    ['a file through a symlink', [dir('real/'), sym('link', 'real'), file('link/x')], /through a symlink \("link"\)/],
    ['a file through a symlink, other case', [dir('real/'), sym('link', 'real'), file('LINK/x')], /through a symlink/],
    ['a file under a file', [file('a'), file('a/b')], /through a file/],
    ['a FIFO', [{ path: 'p', type: 'FIFO', size: 0 }], /a FIFO/],
    ['a character device', [{ path: 'c', type: 'CharacterDevice', size: 0 }], /a character device/],
    ['a GNU sparse file', [{ path: 's', type: 'SparseFile', size: 0 }], /unsupported entry type \(SparseFile\)/],
    ['a root that is not a directory', [file('./')], /archive root/],
    ['too many entries', Array.from({ length: 11 }, (_, i) => file(`f${i}`)), /more than 10 entries/],
    ['too many declared bytes', [file('a', 600), file('b', 401)], /would pass 1000 bytes/],
    ['a hardlink out', [hard('h', '../x')], /outside the archive/],
  ])('refuses %s', (_name, entries, why) => {
    expect(() => planAll(entries)).toThrow(why);
  });

  it('counts streamed bytes against the limit too', () => {
    const policy = createEntryPolicy(LIMITS);
    policy.plan(file('a', 10));
    policy.countBytes(900, 'a');
    expect(policy.bytes).toBe(900);
    expect(() => policy.countBytes(101, 'a')).toThrow(/"a": unpacked size passed 1000 bytes/);
  });
});
