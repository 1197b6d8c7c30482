// What the next run stops of an app a SIGKILLed agent left behind: the recorded app, and,
// when no record survived, any app working inside <dataDir>/releases. Real processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../agent/log.ts';
import { reapLeftoverApp, recordApp } from '../../agent/supervisor/app-record.ts';

const log = createLogger({ level: 'silent' });
const children: ChildProcess[] = [];

/** A detached process that sleeps in `cwd`, as an orphaned app would. */
function leftover(cwd: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, detached: true, stdio: 'ignore' });
  children.push(child);
  return child;
}

const exited = (child: ChildProcess) => new Promise<boolean>((resolve) => {
  if (child.exitCode !== null || child.signalCode !== null) resolve(true);
  child.once('exit', () => resolve(true));
  setTimeout(() => resolve(false), 3_000);
});

function dataDir(): { root: string; releases: string; code: string } {
  const root = mkdtempSync(join(tmpdir(), 'herd-reap-'));
  const code = join(root, 'releases', 'r1', 'code');
  mkdirSync(code, { recursive: true });
  return { root, releases: join(root, 'releases'), code };
}

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

describe('reapLeftoverApp', () => {
  it('stops the recorded app and forgets the record', async () => {
    const dir = dataDir();
    const app = leftover(tmpdir(), {});
    await new Promise((r) => app.once('spawn', r));
    recordApp(join(dir.root, 'app.pid'), app.pid as number);
    expect(await reapLeftoverApp({ file: join(dir.root, 'app.pid'), releasesDir: dir.releases, log })).toEqual([app.pid]);
    expect(await exited(app)).toBe(true);
    expect(await reapLeftoverApp({ file: join(dir.root, 'app.pid'), releasesDir: dir.releases, log })).toEqual([]);
  });

  it('stops an app working in a release directory when no record survived', async () => {
    const dir = dataDir();
    const app = leftover(dir.code, { HERD_RELEASE: 'r1' });
    await new Promise((r) => app.once('spawn', r));
    expect(await reapLeftoverApp({ file: join(dir.root, 'app.pid'), releasesDir: dir.releases, log })).toEqual([app.pid]);
    expect(await exited(app)).toBe(true);
  });

  it('leaves alone a process that only stands in a release directory, and one whose record is stale', async () => {
    const dir = dataDir();
    const shell = leftover(dir.code, {});
    await new Promise((r) => shell.once('spawn', r));
    writeFileSync(join(dir.root, 'app.pid'), `${shell.pid} 1\n`);
    expect(await reapLeftoverApp({ file: join(dir.root, 'app.pid'), releasesDir: dir.releases, log })).toEqual([]);
    expect(await exited(shell)).toBe(false);
  });

  it('SIGKILLs an app that ignores SIGTERM once the grace is over', async () => {
    const dir = dataDir();
    const app = spawn(process.execPath, ['-e', 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)'], { cwd: dir.code, env: { HERD_RELEASE: 'r1' }, detached: true, stdio: 'ignore' });
    children.push(app);
    await new Promise((r) => app.once('spawn', r));
    await new Promise((r) => setTimeout(r, 200));
    expect(await reapLeftoverApp({ file: join(dir.root, 'app.pid'), releasesDir: dir.releases, log, graceMs: 300 })).toEqual([app.pid]);
    expect(await exited(app)).toBe(true);
    expect(app.signalCode).toBe('SIGKILL');
  });
});
