// herd keygen on a real directory: the files, their modes, what is printed, and that an
// existing key is never replaced.
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keygen } from '../../agent/commands/keygen.ts';
import type { Output } from '../../agent/commands/output.ts';
import { ConflictError, UsageError, exitCodeOf } from '../../agent/errors.ts';
import { silentLogger } from '../../agent/log.ts';
import { parseSigningKey, parseTrustedKey } from '../../agent/signing/keys.ts';

let dir: string;
let lines: string[];
const out: Output = { json: false, result: () => {}, info: (l) => { lines.push(l); }, progress: () => () => {} };
const run = (over: { name?: string; dir?: string } = {}) => keygen({ dir: over.dir ?? join(dir, 'keys'), out, log: silentLogger(), ...(over.name ? { name: over.name } : {}) });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herd-keygen-'));
  lines = [];
});
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

describe('herd keygen', () => {
  it('writes NAME.key (0600) and NAME.pub in a new directory only its owner reads, and returns the trustedKeys line', async () => {
    const result = await run({ name: 'prod' });
    expect(result.private).toBe(join(dir, 'keys', 'prod.key'));
    expect(result.public).toBe(join(dir, 'keys', 'prod.pub'));
    expect((await stat(result.private)).mode & 0o777).toBe(0o600);
    expect((await stat(result.public)).mode & 0o622).toBe(0o600);
    expect((await stat(join(dir, 'keys'))).mode & 0o777).toBe(0o700);

    const signer = parseSigningKey(await readFile(result.private, 'utf8'), result.private);
    expect(signer.keyId).toBe(result.keyId);
    expect(signer.trustedKey).toBe(result.trustedKey);
    expect(parseTrustedKey(await readFile(result.public, 'utf8')).keyId).toBe(result.keyId);
    expect(parseTrustedKey(result.trustedKey).keyId).toBe(result.keyId);
    expect(lines.join('\n')).toContain(`key id ${result.keyId}`);
  });

  it('names the files herd-release.* by default', async () => {
    const result = await run();
    expect(await readdir(join(dir, 'keys'))).toEqual(['herd-release.key', 'herd-release.pub']);
    expect(result.private.endsWith('herd-release.key')).toBe(true);
  });

  it('refuses to overwrite an existing key and leaves it as it was', async () => {
    const first = await run();
    const before = await readFile(first.private);
    const err = await run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(exitCodeOf(err)).toBe(1);
    expect((err as Error).message).toBe(`${first.private} exists; keygen never overwrites a key (choose another --name or --out)`);
    expect(await readFile(first.private)).toEqual(before);
  });

  it('refuses when only NAME.pub exists, leaving no new private key behind', async () => {
    await run({ dir: join(dir, 'keys') }).then(() => rm(join(dir, 'keys', 'herd-release.key')));
    const pub = await readFile(join(dir, 'keys', 'herd-release.pub'));
    await expect(run()).rejects.toThrowError('herd-release.pub exists');
    expect(await readdir(join(dir, 'keys'))).toEqual(['herd-release.pub']);
    expect(await readFile(join(dir, 'keys', 'herd-release.pub'))).toEqual(pub);
  });

  it('writes into an existing directory beside other files', async () => {
    await writeFile(join(dir, 'notes.txt'), 'x');
    await run({ dir, name: 'k1' });
    expect((await readdir(dir)).sort()).toEqual(['k1.key', 'k1.pub', 'notes.txt']);
  });

  it.each(['../escape', 'a/b', '.hidden', '', 'x'.repeat(65)])('refuses --name %j (exit 2) and writes nothing', async (name) => {
    const err = await keygen({ dir: join(dir, 'keys'), name, out, log: silentLogger() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(exitCodeOf(err)).toBe(2);
    expect(await readdir(dir)).toEqual([]);
  });
});
