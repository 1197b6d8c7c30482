// The demo's child processes (agents, HAProxy): each in its own process group, so Ctrl-C
// reaches only the demo, which then stops them in order; output goes to a log file.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';

export interface ChildInput {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  logFile: string;
}

export interface DemoChild {
  name: string;
  pid: number;
  logFile: string;
  running(): boolean;
  /** Resolves with a description of how it exited ("code 1", "signal SIGKILL"). */
  exited: Promise<string>;
  /**
   * `signal` to the process, SIGKILL to its group (and to `alsoKill` groups, e.g. the app
   * an agent started) after `timeoutMs`. Idempotent.
   */
  stop(input?: { signal?: NodeJS.Signals; timeoutMs?: number; alsoKill?: () => Array<number | null> }): Promise<void>;
  /** The last lines of its log, for error messages. */
  tail(lines: number): Promise<string>;
}

export function spawnChild(input: ChildInput): DemoChild {
  const log = createWriteStream(input.logFile, { flags: 'a' });
  const child: ChildProcess = spawn(input.command, input.args, { env: input.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  let done = false;
  const exited = new Promise<string>((resolveExit) => {
    child.once('error', (err) => { done = true; resolveExit(`failed to start: ${err.message}`); });
    child.once('exit', (code, signal) => { done = true; resolveExit(signal ? `signal ${signal}` : `code ${code}`); });
  });
  void exited.then(() => log.end());
  let stopping: Promise<void> | undefined;
  return {
    name: input.name,
    pid: child.pid ?? -1,
    logFile: input.logFile,
    running: () => !done,
    exited,
    stop(opts = {}) {
      stopping ??= (async () => {
        if (!done) signalProcess(child.pid, opts.signal ?? 'SIGTERM');
        const timer = setTimeout(() => {
          for (const pid of [child.pid ?? null, ...(opts.alsoKill?.() ?? [])]) signalGroup(pid, 'SIGKILL');
        }, opts.timeoutMs ?? 20_000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
    async tail(lines) {
      const text = await readFile(input.logFile, 'utf8').catch(() => '');
      return text.trimEnd().split('\n').slice(-lines).join('\n');
    },
  };
}

function signalProcess(pid: number | undefined, signal: NodeJS.Signals): void {
  try { if (pid) process.kill(pid, signal); } catch { /* already gone */ }
}

/** A whole process group; groups that no longer exist are fine. */
export function signalGroup(pid: number | null | undefined, signal: NodeJS.Signals): void {
  try { if (pid) process.kill(-pid, signal); } catch { /* already gone */ }
}
