// Real child processes from test/fixtures/apps: start, output as log lines, stop, crash,
// SIGKILL of the whole group, spawn failures and the app's environment.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, afterAll, describe, expect, it, vi } from 'vitest';
import { AppFailedError } from '../../agent/errors.ts';
import { createLogger } from '../../agent/log.ts';
import { APP_LINE_MAX_CHARS, startApp, type AppHandle, type StartAppInput } from '../../agent/supervisor/app-process.ts';
import { waitHealthy } from '../../agent/supervisor/health-check.ts';

const APPS = path.resolve(import.meta.dirname, '../fixtures/apps');
const PATH = `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`;

type LogLine = Record<string, unknown> & { msg: string; level: number };

function capture(): { log: ReturnType<typeof createLogger>; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => { lines.push(JSON.parse(s) as LogLine); } } });
  return { log, lines };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    }).on('error', reject);
  });
}

/** Running and not a zombie (a container's pid 1 may never reap orphans). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const appLines = (lines: LogLine[], stream: string): string[] =>
  lines.filter((l) => l.module === 'app' && l.stream === stream).map((l) => l.msg);

const started: AppHandle[] = [];
function start(input: Partial<StartAppInput> & Pick<StartAppInput, 'command' | 'log'>): AppHandle {
  const app = startApp({ cwd: APPS, env: { PATH }, stopSignal: 'SIGTERM', stopTimeoutS: 5, ...input });
  started.push(app);
  return app;
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => { unhandled.push(reason); };
beforeAll(() => { process.on('unhandledRejection', onUnhandled); });
afterAll(() => { process.off('unhandledRejection', onUnhandled); });
afterEach(async () => {
  await Promise.allSettled(started.splice(0).map((app) => app.stop()));
  expect(unhandled).toEqual([]);
});

describe('startApp', () => {
  it('runs http-app until healthy, logs its lines, and stops it deliberately with code 0', async () => {
    const { log, lines } = capture();
    const port = await freePort();
    const configDir = mkdtempSync(path.join(tmpdir(), 'herd-config-'));
    writeFileSync(path.join(configDir, 'app.json'), JSON.stringify({ greeting: 'hi' }));
    const app = start({
      command: [path.join(APPS, 'http-app.mjs')],
      env: { PATH, PORT: String(port), HERD_RELEASE: 'r1', HERD_ROLE: 'web', HERD_INSTANCE_ID: 'i-1', HERD_AZ: 'az-a', HERD_CONFIG_DIR: configDir },
      log,
    });
    expect(app.pid).toBeGreaterThan(0);

    const health = await waitHealthy({ url: `http://127.0.0.1:${port}/healthz`, timeoutS: 20, intervalMs: 50, exited: app.exited });
    expect(health).toMatchObject({ healthy: true });
    const body = await (await fetch(`http://127.0.0.1:${port}/`)).json();
    expect(body).toMatchObject({ release: 'r1', role: 'web', instanceId: 'i-1', az: 'az-a', port: String(port), config: { greeting: 'hi' } });

    const exit = await app.stop();
    expect(exit).toEqual({ code: 0, signal: null, deliberate: true });
    expect(await app.exited).toEqual(exit);
    expect(await app.stop()).toEqual(exit); // idempotent
    expect(appLines(lines, 'stdout')).toEqual([`http-app listening on ${port} release=r1`, 'http-app got SIGTERM, closing']);
    const stoppedLine = lines.find((l) => l.msg === 'app stopped');
    expect(stoppedLine).toMatchObject({ module: 'supervisor', deliberate: true, code: 0 });
  });

  it('gives the app only the environment it is given', async () => {
    process.env.HERD_TEST_LEAK = 'must-not-leak';
    try {
      const { log } = capture();
      const port = await freePort();
      const app = start({ command: ['node', path.join(APPS, 'http-app.mjs')], env: { PATH, PORT: String(port), HERD_ROLE: 'api' }, log });
      const health = await waitHealthy({ url: `http://127.0.0.1:${port}/healthz`, timeoutS: 20, intervalMs: 50, exited: app.exited });
      expect(health.healthy).toBe(true);
      const names = await (await fetch(`http://127.0.0.1:${port}/env`)).json();
      expect(names).toEqual(['HERD_ROLE', 'PATH', 'PORT']);
    } finally {
      delete process.env.HERD_TEST_LEAK;
    }
  });

  it('SIGKILLs the whole group when the app ignores the stop signal', async () => {
    const { log, lines } = capture();
    const app = start({ command: [path.join(APPS, 'ignore-term.mjs')], stopTimeoutS: 1, log });
    await vi.waitFor(() => expect(appLines(lines, 'stdout')).toContain('grandchild ready'), { timeout: 20_000, interval: 50 });
    const pidLine = appLines(lines, 'stdout').find((l) => l.startsWith('grandchild pid '));
    const grandchild = Number(pidLine?.slice('grandchild pid '.length));
    expect(isRunning(grandchild)).toBe(true);

    const exit = await app.stop();
    expect(exit).toEqual({ code: null, signal: 'SIGKILL', deliberate: true });
    expect(appLines(lines, 'stdout')).toContain('ignore-term: ignoring SIGTERM');
    expect(lines.some((l) => l.level === 40 && l.msg.includes('sending SIGKILL'))).toBe(true);
    await vi.waitFor(() => expect(isRunning(grandchild)).toBe(false), { timeout: 5_000, interval: 20 });
  });

  it('reports an exit on its own as not deliberate, with its code and stderr', async () => {
    const { log, lines } = capture();
    const app = start({ command: [path.join(APPS, 'exit-1.mjs')], log });
    const exit = await app.exited;
    expect(exit).toEqual({ code: 1, signal: null, deliberate: false });
    expect(await app.stop()).toEqual(exit); // stopping after the fact changes nothing
    expect(appLines(lines, 'stderr')).toEqual(['exit-1: failing on purpose']);
    expect(lines.find((l) => l.module === 'supervisor' && l.level === 40)?.msg).toContain('exit code 1');
  });

  it('a signal the caller sends is not a deliberate stop', async () => {
    const { log } = capture();
    const port = await freePort();
    const app = start({ command: [path.join(APPS, 'http-app.mjs')], env: { PATH, PORT: String(port) }, log });
    expect((await waitHealthy({ url: `http://127.0.0.1:${port}/healthz`, timeoutS: 20, intervalMs: 50, exited: app.exited })).healthy).toBe(true);
    app.signal('SIGTERM');
    expect(await app.exited).toEqual({ code: 0, signal: null, deliberate: false });
    app.signal('SIGHUP'); // after the exit: a no-op, not a throw
  });

  it('kills what the app left behind in its group when it exits', async () => {
    const { log, lines } = capture();
    const app = start({ command: ['sh', '-c', 'sleep 300 & echo "left $!"; exit 3'], log });
    const exit = await app.exited;
    expect(exit).toMatchObject({ code: 3, deliberate: false });
    const left = Number(appLines(lines, 'stdout').find((l) => l.startsWith('left '))?.slice(5));
    expect(left).toBeGreaterThan(0);
    await vi.waitFor(() => expect(isRunning(left)).toBe(false), { timeout: 5_000, interval: 20 });
  });

  it('logs every line of both streams, caps a huge line and keeps a last line without newline', async () => {
    const { log, lines } = capture();
    const app = start({ command: [path.join(APPS, 'chatty.mjs'), '50', String(APP_LINE_MAX_CHARS * 3)], log });
    expect(await app.exited).toMatchObject({ code: 0 });
    const out = appLines(lines, 'stdout');
    expect(out.slice(0, 50)).toEqual(Array.from({ length: 50 }, (_, i) => `out ${i + 1}`));
    expect(out[50]).toBe('x'.repeat(APP_LINE_MAX_CHARS));
    expect(out.slice(51)).toEqual(['after long', 'last line without newline']);
    expect(lines.find((l) => l.msg === out[50])).toMatchObject({ truncated: true, module: 'app', stream: 'stdout' });
    expect(appLines(lines, 'stderr')).toEqual(Array.from({ length: 50 }, (_, i) => `err ${i + 1}`));
  });

  it.each([
    ['a program that does not exist', (dir: string) => ({ command: [path.join(dir, 'nope')], cwd: dir }), /nope.*program not found/],
    ['a program that is not executable', (dir: string) => ({ command: [path.join(dir, 'plain.txt')], cwd: dir }), /plain\.txt.*permission denied/],
    ['a working directory that does not exist', (dir: string) => ({ command: ['node'], cwd: path.join(dir, 'gone') }), /working directory does not exist/],
    ['an empty command', (dir: string) => ({ command: [], cwd: dir }), /<empty command>.*empty/],
  ])('fails clearly for %s, without unhandled rejections', async (_name, make, message) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herd-spawn-'));
    writeFileSync(path.join(dir, 'plain.txt'), 'not a program');
    chmodSync(path.join(dir, 'plain.txt'), 0o644);
    const { log, lines } = capture();
    const app = startApp({ env: { PATH }, stopSignal: 'SIGTERM', stopTimeoutS: 1, log, ...make(dir) });
    expect(app.pid).toBe(0);
    app.signal('SIGTERM'); // must not signal anything (pid 0 would be our own group)
    await expect(app.exited).rejects.toBeInstanceOf(AppFailedError);
    await expect(app.exited).rejects.toThrow(message);
    await expect(app.stop()).rejects.toThrow(message);
    expect(lines.find((l) => l.level === 50)?.msg).toBe('app failed to start');
    await new Promise((resolve) => setTimeout(resolve, 50)); // let any stray rejection surface
  });

  it.skipIf(process.getuid?.() !== 0)('runs the app as the uid and gid it is given', async () => {
    const { log } = capture();
    const port = await freePort();
    const app = start({ command: [path.join(APPS, 'http-app.mjs')], env: { PATH, PORT: String(port) }, uid: 65534, gid: 65534, log });
    expect((await waitHealthy({ url: `http://127.0.0.1:${port}/healthz`, timeoutS: 20, intervalMs: 50, exited: app.exited })).healthy).toBe(true);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).json()).toMatchObject({ uid: 65534 });
  });
});
