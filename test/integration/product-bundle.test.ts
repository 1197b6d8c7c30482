// dist/herd.mjs and the executable dist/herd are what ships onto instances: the product and
// nothing else. The local demo (demo/, built into dist/demo.mjs) and the dev support
// (support/: s3rver, free ports) stay out of them, and no source under agent/ reaches for
// them, the tests or the scripts.
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HERD, HERD_EXE, ROOT, runHerd } from '../helpers/harness.ts';

const AGENT = join(ROOT, 'agent');

/** Every module specifier a source file names: static and dynamic imports, re-exports. */
function specifiersOf(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g)) found.push(m[1] as string);
  return found;
}

describe('the product bundle', () => {
  it('has no demo command', async () => {
    const help = await runHerd(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).not.toMatch(/^\s+demo\b/m);
    const demo = await runHerd(['demo']);
    expect(demo.code).toBe(2);
    expect(demo.stderr).toContain("unknown command 'demo'");
  });

  it.each([['herd.mjs', HERD], ['herd', HERD_EXE]])('dist/%s carries no s3rver, HAProxy config or demo code', async (_name, file) => {
    const bundle = await readFile(file, 'latin1');
    // s3rver as a module to load, or its credentials.
    expect(bundle).not.toMatch(/['"]s3rver['"]/);
    expect(bundle).not.toContain('S3RVER');
    // The demo's HAProxy config, its fleet and its sample releases.
    for (const text of ['option httpchk', 'retry-on conn-failure', 'haproxy', 'herd-demo', 'local-1a', 'hello-app-v2', 'the built-in Node proxy']) {
      expect(bundle, text).not.toContain(text);
    }
  });

  it('is built only from agent/ sources and packages other than s3rver', async () => {
    const strays: string[] = [];
    let seen = 0;
    for (const name of await readdir(AGENT, { recursive: true })) {
      if (!name.endsWith('.ts')) continue;
      const file = join(AGENT, name);
      for (const spec of specifiersOf(await readFile(file, 'utf8'))) {
        seen++;
        const outside = spec.startsWith('.') && relative(AGENT, resolve(dirname(file), spec)).startsWith('..');
        if (outside || spec === 's3rver') strays.push(`${name}: ${spec}`);
      }
    }
    expect(strays).toEqual([]);
    expect(seen).toBeGreaterThan(100); // the scan did read the imports
  });
});
