// A machine with no Node.js, as far as a process can tell: a PATH of one directory that holds
// only the programs it is given. This machine has node in /usr/bin (and in node_modules/.bin,
// which npm puts first on PATH), so no test may take the machine's PATH for it.
import { execFile } from 'node:child_process';
import { mkdir, realpath, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The real python3 on this machine (through any shim such as pyenv's), found on the tests' own PATH. */
export async function realPython3(): Promise<string> {
  const { stdout } = await run('python3', ['-c', 'import sys; print(sys.executable)']);
  return realpath(stdout.trim());
}

/**
 * Makes `dir` hold a symlink to each of `programs` (name -> absolute path) plus `sh`, and
 * returns the environment to run a process in: PATH is `dir` alone, plus `extra`, and nothing
 * of this process's environment (no NODE_OPTIONS either). Throws if `node` can be found there.
 */
export async function nodelessEnv(dir: string, programs: Record<string, string>, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  await mkdir(dir, { recursive: true });
  for (const [name, target] of Object.entries({ sh: '/bin/sh', ...programs })) await symlink(target, join(dir, name));
  const env = { PATH: dir, ...extra };
  const found = await run('/bin/sh', ['-c', 'command -v node'], { env }).then((r) => r.stdout.trim() || 'found', () => null);
  if (found !== null) throw new Error(`node is reachable on PATH=${dir}: ${found}`);
  return env;
}
