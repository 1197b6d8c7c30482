// Packing on the publisher's side: reproducible bundles GNU tar can read, their digest,
// and reading herd.json out of a ready archive.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkArchive, hashFile, packDirectory, readArchiveFile } from '../../agent/bundle/pack.ts';
import { ConfigError } from '../../agent/errors.ts';
import { silentLogger } from '../../agent/log.ts';
import { buildArchive, createSandbox, gnuTar, type Sandbox } from '../fixtures/archives/hostile.ts';

const log = silentLogger();
let box: Sandbox;
let src: string;

beforeEach(async () => {
  box = await createSandbox();
  src = join(box.root, 'app');
  await mkdir(join(src, 'lib/nested'), { recursive: true });
  await writeFile(join(src, 'herd.json'), '{"command":["node","lib/x.js"],"port":8080,"health":{"path":"/"}}\n');
  await writeFile(join(src, 'lib/x.js'), 'console.log("x")\n');
  await writeFile(join(src, 'lib/nested/data.bin'), Buffer.alloc(200_000, 3));
  await writeFile(join(src, 'run.sh'), '#!/bin/sh\n');
  await chmod(join(src, 'run.sh'), 0o755);
  await symlink('lib/x.js', join(src, 'main.js'));
});
afterEach(async () => {
  await box.cleanup();
});

const sha256 = async (file: string) => `sha256:${createHash('sha256').update(await readFile(file)).digest('hex')}`;

describe('packDirectory', () => {
  it('gives the same digest for the same tree, whatever the timestamps', async () => {
    const first = await packDirectory({ dir: src, file: join(box.root, 'a.tar.gz'), log });
    await utimes(join(src, 'lib/x.js'), new Date('2020-05-05'), new Date('2020-05-05'));
    await utimes(join(src, 'lib'), new Date('2021-01-01'), new Date('2021-01-01'));
    const second = await packDirectory({ dir: src, file: join(box.root, 'b.tar.gz'), log });
    expect(second).toEqual(first);
    expect((await readFile(join(box.root, 'b.tar.gz'))).equals(await readFile(join(box.root, 'a.tar.gz')))).toBe(true);

    await writeFile(join(src, 'lib/x.js'), 'console.log("y")\n');
    const changed = await packDirectory({ dir: src, file: join(box.root, 'c.tar.gz'), log });
    expect(changed.digest).not.toBe(first.digest);
  });

  it('returns the sha256 and size of the bytes written, as hashFile and sha256 agree', async () => {
    const file = join(box.root, 'a.tar.gz');
    const progress: number[] = [];
    const ref = await packDirectory({ dir: src, file, log, onProgress: (n) => progress.push(n) });
    expect(ref.size).toBe((await stat(file)).size);
    expect(ref.digest).toBe(await sha256(file));
    expect(await hashFile(file)).toEqual(ref);
    expect(progress.at(-1)).toBe(ref.size);
  });

  it('writes an archive GNU tar reads: sorted relative paths, fixed mtime, no owner names, symlinks kept', async () => {
    const file = join(box.root, 'a.tar.gz');
    await packDirectory({ dir: src, file, log });
    const names = (await gnuTar(['tzf', file])).trim().split('\n');
    expect(names).toEqual(['herd.json', 'lib/', 'lib/nested/', 'lib/nested/data.bin', 'lib/x.js', 'main.js', 'run.sh']);

    const verbose = execFileSync('tar', ['--numeric-owner', '--utc', '-tvzf', file], { encoding: 'utf8' }).trim().split('\n');
    const line = (name: string) => verbose.find((l) => l.endsWith(` ${name}`) || l.includes(` ${name} -> `)) ?? '';
    expect(line('run.sh')).toMatch(/^-rwxr-xr-x 0\/0 .* 2000-01-01 00:00 run\.sh$/);
    expect(line('herd.json')).toMatch(/^-rw-r--r-- 0\/0 .* 2000-01-01 00:00 herd\.json$/);
    expect(line('main.js')).toMatch(/^l.* main\.js -> lib\/x\.js$/);

    const bytes = await readFile(file);
    expect(bytes.readUInt32LE(4)).toBe(0); // the gzip header carries no timestamp
  });

  it('refuses a missing directory, and the bundle file inside the directory', async () => {
    await expect(packDirectory({ dir: join(box.root, 'nope'), file: join(box.root, 'x.tar.gz'), log }))
      .rejects.toBeInstanceOf(ConfigError);
    await expect(packDirectory({ dir: src, file: join(src, 'x.tar.gz'), log })).rejects.toThrow(/cannot be inside/);
  });

  it('refuses trees agents would refuse: special files, symlinks pointing out', async () => {
    execFileSync('mkfifo', [join(src, 'lib/pipe')]);
    const file = join(box.root, 'x.tar.gz');
    await expect(packDirectory({ dir: src, file, log })).rejects.toThrow(/lib\/pipe: not a file, directory or symlink/);

    execFileSync('rm', [join(src, 'lib/pipe')]);
    await symlink('../../etc/passwd', join(src, 'lib/out'));
    const err = await packDirectory({ dir: src, file, log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/agents would refuse this bundle: entry "lib\/out": .*points outside/);
  });
});

describe('readArchiveFile', () => {
  it('finds ./herd.json in an archive made by GNU tar', async () => {
    const file = join(box.root, 'gnu.tar.gz');
    await gnuTar(['czf', file, '-C', src, '.']);
    expect((await gnuTar(['tzf', file])).split('\n')).toContain('./herd.json');
    const bytes = await readArchiveFile({ file, name: 'herd.json', maxBytes: 1 << 20 });
    expect(bytes?.toString('utf8')).toBe(await readFile(join(src, 'herd.json'), 'utf8'));
    expect((await readArchiveFile({ file, name: 'lib/x.js', maxBytes: 1 << 20 }))?.toString()).toBe('console.log("x")\n');
  });

  it('finds herd.json in a packDirectory archive, and null when absent', async () => {
    const file = join(box.root, 'a.tar.gz');
    await packDirectory({ dir: src, file, log });
    expect((await readArchiveFile({ file, name: './herd.json', maxBytes: 4096 }))?.toString()).toContain('"port":8080');
    expect(await readArchiveFile({ file, name: 'missing.json', maxBytes: 4096 })).toBeNull();
    expect(await readArchiveFile({ file, name: 'lib', maxBytes: 4096 })).toBeNull(); // a directory is not a file
  });

  it('refuses with ConfigError: not gzip, gzip but not tar, missing file, entry too large', async () => {
    const text = join(box.root, 'text.tar.gz');
    await writeFile(text, 'hello, I am not an archive\n');
    await expect(readArchiveFile({ file: text, name: 'herd.json', maxBytes: 10 })).rejects.toThrow(/not a gzip'd tar/);

    const gz = join(box.root, 'plain.tar.gz');
    execFileSync('sh', ['-c', `echo "just text" | gzip > ${gz}`]);
    const err = await readArchiveFile({ file: gz, name: 'herd.json', maxBytes: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/corrupt tar archive/);

    await expect(readArchiveFile({ file: join(box.root, 'none.tar.gz'), name: 'x', maxBytes: 10 })).rejects.toBeInstanceOf(ConfigError);

    const file = join(box.root, 'a.tar.gz');
    await packDirectory({ dir: src, file, log });
    await expect(readArchiveFile({ file, name: 'lib/nested/data.bin', maxBytes: 1000 })).rejects.toThrow(/200000 bytes, more than 1000/);
  });
});

describe('checkArchive', () => {
  it('counts a good archive and refuses one agents would refuse, with ConfigError', async () => {
    const file = join(box.root, 'gnu.tar.gz');
    await gnuTar(['czf', file, '-C', src, '.']);
    const sizes = await Promise.all(['herd.json', 'lib/x.js', 'lib/nested/data.bin', 'run.sh'].map(async (f) => (await stat(join(src, f))).size));
    expect(await checkArchive({ file })).toEqual({ entries: 8, bytes: sizes.reduce((a, b) => a + b, 0) });

    const evil = join(box.root, 'evil.tar.gz');
    await buildArchive(evil, [{ name: 'herd.json', type: 'file', data: '{}' }, { name: 'up', type: 'symlink', target: '../..' }]);
    const err = await checkArchive({ file: evil }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/evil\.tar\.gz: entry "up": symlink to "\.\.\/\.\.": target points outside/);
  });
});
