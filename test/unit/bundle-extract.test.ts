// Safe extraction against real archives: normal ones from GNU tar and packDirectory,
// and hostile ones built by hand with Python's tarfile and GNU tar. Every refusal must
// reject the whole archive, destroy the source, and leave the sentinel parent untouched.
import { createReadStream } from 'node:fs';
import { chmod, link, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractSafely } from '../../agent/bundle/extract.ts';
import { packDirectory } from '../../agent/bundle/pack.ts';
import { IntegrityError, UnsafeArchiveError } from '../../agent/errors.ts';
import { silentLogger } from '../../agent/log.ts';
import { buildArchive, createSandbox, describeTree, diskUsage, gnuTar, type Sandbox, type SpecEntry } from '../fixtures/archives/hostile.ts';

const log = silentLogger();
const LIMITS = { maxUnpackedBytes: 64 << 20, maxEntries: 1000 };
const MIB = 1 << 20;

let box: Sandbox;
beforeEach(async () => {
  box = await createSandbox();
});
afterEach(async () => {
  await box.cleanup();
});

/** Counts the compressed bytes the extractor pulled from its source. */
function countingSource(file: string): { source: Readable; consumed: () => number } {
  let consumed = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      consumed += chunk.length;
      cb(null, chunk);
    },
  });
  const source = createReadStream(file, { highWaterMark: 64 * 1024 }).pipe(counter);
  return { source, consumed: () => consumed };
}

async function extractFile(file: string, limits = LIMITS) {
  return extractSafely({ source: createReadStream(file), dir: box.staging, limits, log });
}

/** A small tree with what real apps carry: exec bits, nested dirs, symlinks in, a hardlink, a big file. */
async function makeAppTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'lib/deep'), { recursive: true });
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'herd.json'), '{"command":["node","server.js"]}\n');
  await writeFile(join(dir, 'bin/run.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(dir, 'bin/run.sh'), 0o755);
  await writeFile(join(dir, 'lib/a.js'), 'export const a = 1;\n');
  await writeFile(join(dir, 'lib/empty'), '');
  await writeFile(join(dir, 'lib/deep/big.bin'), Buffer.alloc(3 * MIB + 123, 7));
  await symlink('../herd.json', join(dir, 'lib/config-link'));
  await symlink('deep', join(dir, 'lib/deep-link'));
  await link(join(dir, 'lib/a.js'), join(dir, 'lib/hard.js'));
}

describe('extractSafely on normal archives', () => {
  it('extracts an archive made by GNU tar with contents, modes, symlinks and hardlinks', async () => {
    const src = join(box.root, 'src');
    await makeAppTree(src);
    const archive = join(box.root, 'gnu.tar.gz');
    await gnuTar(['czf', archive, '-C', src, '.']);

    const result = await extractFile(archive);

    expect(await describeTree(box.staging)).toEqual(await describeTree(src));
    const big = await readFile(join(box.staging, 'lib/deep/big.bin'));
    expect(big.equals(await readFile(join(src, 'lib/deep/big.bin')))).toBe(true);
    const [a, hard] = await Promise.all([stat(join(box.staging, 'lib/a.js')), stat(join(box.staging, 'lib/hard.js'))]);
    expect(hard.ino).toBe(a.ino);
    const files = ['herd.json', 'bin/run.sh', 'lib/a.js', 'lib/empty', 'lib/deep/big.bin']; // hard.js is a link: no body
    const sizes = await Promise.all(files.map(async (f) => (await stat(join(src, f))).size));
    expect(result.bytes).toBe(sizes.reduce((a, b) => a + b, 0));
    expect(result.entries).toBe((await describeTree(src)).length + 1); // plus the './' root entry
    expect(await box.outsideTree()).toEqual(['outside/ 755', 'outside/keep.txt 644 10']);
  });

  it('extracts an archive made by packDirectory', async () => {
    const src = join(box.root, 'src');
    await makeAppTree(src);
    const archive = join(box.root, 'packed.tar.gz');
    await packDirectory({ dir: src, file: archive, log });

    await extractFile(archive);

    expect(await describeTree(box.staging)).toEqual(await describeTree(src));
    expect((await stat(join(box.staging, 'bin/run.sh'))).mode & 0o777).toBe(0o755);
    expect(await readFile(join(box.staging, 'lib/config-link'), 'utf8')).toContain('server.js');
  });

  it('drops setuid, setgid and sticky bits but keeps permissions', async () => {
    const archive = join(box.root, 'modes.tar.gz');
    await buildArchive(archive, [
      { name: 'shared/', type: 'dir', mode: 0o1777 },
      { name: 'shared/tool', type: 'file', data: '#!/bin/sh\n', mode: 0o4755 },
      { name: 'group-tool', type: 'file', data: 'x', mode: 0o2750 },
      { name: 'locked/', type: 'dir', mode: 0o500 },
      { name: 'locked/inside.txt', type: 'file', data: 'still extracted', mode: 0o000 },
    ]);

    await extractFile(archive);

    const mode = async (p: string) => (await stat(join(box.staging, p))).mode & 0o7777;
    expect(await mode('shared/tool')).toBe(0o755);
    expect(await mode('group-tool')).toBe(0o750);
    expect((await mode('shared')) & 0o7000).toBe(0);
    expect((await mode('locked')) & 0o700).toBe(0o700); // owner can still write into it
    expect(await readFile(join(box.staging, 'locked/inside.txt'), 'utf8')).toBe('still extracted');
    expect(await mode('locked/inside.txt')).toBe(0o400); // and read what was written
  });

  it('accepts symlinks that climb and then descend inside the tree', async () => {
    const archive = join(box.root, 'links.tar.gz');
    await buildArchive(archive, [
      { name: 'a/b/', type: 'dir' },
      { name: 'a/b/up', type: 'symlink', target: '../../c/file' },
      { name: 'a/b/dot', type: 'symlink', target: './sibling' },
      { name: 'a/root', type: 'symlink', target: '..' },
      { name: 'c/file', type: 'file', data: 'target' },
    ]);
    await extractFile(archive);
    expect(await readFile(join(box.staging, 'a/b/up'), 'utf8')).toBe('target');
  });
});

/** Expect `file` to be refused as unsafe, naming `entry`, with nothing written outside. */
async function expectRefused(file: string, entry: string, why: RegExp, limits = LIMITS): Promise<void> {
  await rm(box.staging, { recursive: true, force: true }); // a fresh, empty staging dir per archive
  await mkdir(box.staging);
  const before = await box.outsideTree();
  const { source } = countingSource(file);
  const err = await extractSafely({ source, dir: box.staging, limits, log }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UnsafeArchiveError);
  expect((err as Error).message).toContain(JSON.stringify(entry));
  expect((err as Error).message).toMatch(why);
  expect(source.destroyed).toBe(true);
  expect(await box.outsideTree()).toEqual(before);
}

async function refuses(entries: SpecEntry[], entry: string, why: RegExp, format: 'gnu' | 'pax' = 'gnu'): Promise<void> {
  const archive = join(box.root, 'hostile.tar.gz');
  await buildArchive(archive, entries, format);
  await expectRefused(archive, entry, why);
}

describe('extractSafely refuses hostile archives built by hand', () => {
  it('an absolute path', async () => {
    const target = join(box.outside, 'abs.txt');
    await refuses([{ name: 'ok.txt', type: 'file', data: 'fine' }, { name: target, type: 'file', data: 'pwned' }], target, /absolute path/);
  });

  it('a path with ..', async () => {
    await refuses([{ name: '../outside/escape.txt', type: 'file', data: 'pwned' }], '../outside/escape.txt', /'\.\.'/);
    await refuses([{ name: 'a/../../outside/x', type: 'file', data: 'pwned' }], 'a/../../outside/x', /'\.\.'/);
  });

  it('a .. path hidden in a pax extended header', async () => {
    const name = `../outside/${'long-name-'.repeat(12)}é.txt`;
    await refuses([{ name, type: 'file', data: 'pwned' }], name, /'\.\.'/, 'pax');
  });

  it('a symlink out, then a file through it', async () => {
    await refuses(
      [{ name: 'out', type: 'symlink', target: '../outside' }, { name: 'out/pwned.txt', type: 'file', data: 'pwned' }],
      'out', /points outside/,
    );
    await refuses([{ name: 'etc', type: 'symlink', target: '/etc' }], 'etc', /absolute target/);
  });

  it('a file written through a symlink that points inside', async () => {
    await refuses(
      [{ name: 'real/', type: 'dir' }, { name: 'alias', type: 'symlink', target: 'real' }, { name: 'alias/x.txt', type: 'file', data: 'x' }],
      'alias/x.txt', /through a symlink \("alias"\)/,
    );
  });

  it('a symlink whose target walks back up through another link', async () => {
    // d/s -> '..' is the root, so d/s/.. would be outside it: lexical checks alone get this wrong.
    await refuses(
      [{ name: 'd/', type: 'dir' }, { name: 'd/s', type: 'symlink', target: '..' }, { name: 'x', type: 'symlink', target: 'd/s/..' }],
      'x', /'\.\.' after a name/,
    );
  });

  it('a hardlink out, to an absolute path, or to a later entry', async () => {
    await refuses([{ name: 'h', type: 'hardlink', target: '../outside/keep.txt' }], 'h', /outside the archive/);
    await refuses([{ name: 'h', type: 'hardlink', target: '/etc/passwd' }], 'h', /outside the archive/);
    await refuses(
      [{ name: 'h', type: 'hardlink', target: 'later.txt' }, { name: 'later.txt', type: 'file', data: 'x' }],
      'h', /not an earlier file/,
    );
  });

  it('a FIFO, a character device, a block device and unknown entry types', async () => {
    await refuses([{ name: 'ok', type: 'file', data: 'x' }, { name: 'pipe', type: 'fifo' }], 'pipe', /a FIFO/);
    await refuses([{ name: 'null', type: 'chr' }], 'null', /a character device/);
    await refuses([{ name: 'disk', type: 'blk' }], 'disk', /a block device/);
    await refuses([{ name: 'sparse', type: 'raw', typeflag: 'S' }], 'sparse', /unsupported entry type/);
  });

  it('an entry that replaces an earlier one', async () => {
    await refuses(
      [{ name: 'a.txt', type: 'file', data: 'x' }, { name: 'a.txt', type: 'symlink', target: '../outside/keep.txt' }],
      'a.txt', /appears twice/,
    );
  });

  it('more entries than maxEntries', async () => {
    const archive = join(box.root, 'many.tar.gz');
    const entries: SpecEntry[] = Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, type: 'file', data: 'x' }));
    await buildArchive(archive, entries);
    await expectRefused(archive, 'f10', /more than 10 entries/, { maxUnpackedBytes: MIB, maxEntries: 10 });
    expect((await describeTree(box.staging)).length).toBe(10);
  });

  it('a gzip bomb: one 1 GiB file of zeros, refused before it is written', async () => {
    const archive = join(box.root, 'bomb.tar.gz');
    await buildArchive(archive, [{ name: 'zeros', type: 'zeros', size: 1 << 30 }]);
    const compressed = (await stat(archive)).size;
    expect(compressed).toBeLessThan(4 * MIB);

    const { source, consumed } = countingSource(archive);
    const err = await extractSafely({ source, dir: box.staging, limits: { maxUnpackedBytes: 10_000_000, maxEntries: 100 }, log })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsafeArchiveError);
    expect((err as Error).message).toMatch(/"zeros": unpacked size would pass 10000000 bytes/);
    expect(await diskUsage(box.staging)).toBeLessThan(10_000_000);
    expect(consumed()).toBeLessThan(compressed);
  });

  it('a gzip bomb of many 1 MiB files, stopped while streaming at the limit', async () => {
    const archive = join(box.root, 'bomb-many.tar.gz');
    await buildArchive(archive, Array.from({ length: 200 }, (_, i) => ({ name: `z${i}`, type: 'zeros' as const, size: MIB })));
    const { source, consumed } = countingSource(archive);
    const err = await extractSafely({ source, dir: box.staging, limits: { maxUnpackedBytes: 10 * MIB, maxEntries: 1000 }, log })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsafeArchiveError);
    expect((err as Error).message).toMatch(/"z10": unpacked size would pass/);
    expect(await diskUsage(box.staging)).toBeLessThanOrEqual(10 * MIB + 4096);
    expect(consumed()).toBeLessThan((await stat(archive)).size);
  });
});

describe('extractSafely refuses hostile archives made with GNU tar', () => {
  it('an absolute path kept with -P', async () => {
    const archive = join(box.root, 'abs.tar.gz');
    await gnuTar(['czPf', archive, join(box.outside, 'keep.txt')]);
    await expectRefused(archive, join(box.outside, 'keep.txt'), /absolute path/);
    expect(await readFile(join(box.outside, 'keep.txt'), 'utf8')).toBe('untouched\n');
  });

  it('a ../ prefix added with --transform', async () => {
    const src = join(box.root, 'src');
    await mkdir(src);
    await writeFile(join(src, 'evil.txt'), 'pwned');
    const archive = join(box.root, 'dotdot.tar.gz');
    await gnuTar(['czPf', archive, '-C', src, '--transform', 's,^,../outside/,', 'evil.txt']);
    await expectRefused(archive, '../outside/evil.txt', /'\.\.'/);
  });
});

describe('extractSafely on damaged input', () => {
  async function packed(): Promise<Buffer> {
    const src = join(box.root, 'src');
    await makeAppTree(src);
    const archive = join(box.root, 'good.tar.gz');
    await packDirectory({ dir: src, file: archive, log });
    return readFile(archive);
  }

  async function expectCorrupt(bytes: Buffer, why: RegExp): Promise<void> {
    const source = Readable.from([bytes]);
    const err = await extractSafely({ source, dir: box.staging, limits: LIMITS, log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err).not.toBeInstanceOf(UnsafeArchiveError);
    expect((err as Error).message).toMatch(why);
    expect(source.destroyed).toBe(true);
  }

  it('rejects a truncated gzip stream', async () => {
    const bytes = await packed();
    await expectCorrupt(bytes.subarray(0, Math.floor(bytes.length / 2)), /corrupt gzip data/);
  });

  it('rejects a tar truncated inside a valid gzip stream', async () => {
    const tar = gunzipSync(await packed());
    await expectCorrupt(gzipSync(tar.subarray(0, tar.length - 4096 - 1024)), /corrupt tar archive: .*Truncated/);
  });

  it('rejects bytes that are not gzip at all, and gzip that is not a tar', async () => {
    await expectCorrupt(Buffer.from('this is not an archive at all, just text\n'.repeat(50)), /corrupt gzip data/);
    await expectCorrupt(gzipSync(Buffer.from('plain text inside gzip\n'.repeat(50))), /corrupt tar archive/);
  });

  it('refuses a staging directory that is not empty, destroying the source', async () => {
    await writeFile(join(box.staging, 'leftover'), 'x');
    const source = Readable.from([await packed()]);
    await expect(extractSafely({ source, dir: box.staging, limits: LIMITS, log })).rejects.toThrow(/not empty/);
    expect(source.destroyed).toBe(true);
  });
});
