// Owns one run of the app: starts it in its own process group with exactly the
// environment it is given, turns its output into log lines, and stops it (stop signal,
// then SIGKILL after the timeout) so a deliberate stop is never mistaken for a crash.
// node:child_process's spawn, as it is: execa, used before with every option that made it
// differ from spawn turned off, cost the agent 3 MB of resident memory to carry.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { AppFailedError, describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { SignalName } from '../store/schemas.ts';
import { createLineSplitter } from './line-splitter.ts';

/** Longest app output line kept in the log; the rest of the line is dropped and flagged. */
export const APP_LINE_MAX_CHARS = 16 * 1024;
/** After the app exits, how long its output pipes may stay open before we stop reading. */
const OUTPUT_DRAIN_MS = 2_000;

export interface StartAppInput {
  command: string[];
  cwd: string;
  /** The app's WHOLE environment; nothing of the agent's own environment is added. */
  env: Record<string, string>;
  uid?: number;
  gid?: number;
  stopSignal: SignalName;
  stopTimeoutS: number;
  log: Logger;
}

export interface AppExit {
  code: number | null;
  signal: string | null;
  /** True when the exit followed our stop(), so it is not a crash. */
  deliberate: boolean;
}

export interface AppHandle {
  /** The app's pid and process-group id; 0 when it could not be started (then `exited` rejects). */
  pid: number;
  /** Resolves once the app exited and its output was logged; rejects with AppFailedError if it never started. */
  exited: Promise<AppExit>;
  /** Stop signal to the group, SIGKILL after stopTimeoutS; idempotent; settles like `exited`. */
  stop(): Promise<AppExit>;
  /** Send a signal (e.g. the reload signal) to the app's process group; a no-op once it exited. */
  signal(sig: SignalName): void;
}

/** Start the app. Never throws: a failure to start shows as `exited` rejecting with AppFailedError. */
export function startApp(input: StartAppInput): AppHandle {
  const log = input.log.child({ module: 'supervisor' });
  const [program, ...args] = input.command;
  let subprocess: ChildProcess | undefined;
  let spawnError: unknown;
  try {
    if (!program) throw new Error('the command is empty');
    // Its own process group (detached), exactly `env`, no stdin; the agent exiting does not kill it.
    subprocess = spawn(program, args, {
      cwd: input.cwd,
      env: input.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(input.uid !== undefined ? { uid: input.uid } : {}),
      ...(input.gid !== undefined ? { gid: input.gid } : {}),
    });
  } catch (err) {
    spawnError = err;
  }
  if (!subprocess || subprocess.pid === undefined) {
    return failedHandle(input, log, subprocess, spawnError);
  }
  return runningHandle(input, log, subprocess, subprocess.pid);
}

function runningHandle(input: StartAppInput, log: Logger, subprocess: ChildProcess, pid: number): AppHandle {
  log.info({ pid, command: input.command, cwd: input.cwd, uid: input.uid, gid: input.gid }, 'app started');
  // A running child's later 'error' (a failed kill) is logged, never an unhandled event.
  subprocess.on('error', (err: unknown) => log.debug({ err: describeError(err) }, 'app process error'));

  const output = Promise.all([
    forwardLines(subprocess.stdout, input.log.child({ module: 'app', stream: 'stdout' })),
    forwardLines(subprocess.stderr, input.log.child({ module: 'app', stream: 'stderr' })),
  ]);
  let hasExited = false;
  let stopping = false;
  let killTimer: NodeJS.Timeout | undefined;

  const exited = new Promise<AppExit>((resolve) => {
    subprocess.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      hasExited = true;
      clearTimeout(killTimer);
      killLeftovers(pid, log);
      void drainOutput(output, subprocess).then(() => {
        const exit: AppExit = { code, signal, deliberate: stopping };
        if (stopping) log.info({ pid, ...exit }, 'app stopped');
        else log.warn({ pid, ...exit }, `app exited on its own (${describeExit(exit)})`);
        resolve(exit);
      });
    });
  });

  let stopped: Promise<AppExit> | undefined;
  return {
    pid,
    exited,
    stop(): Promise<AppExit> {
      if (stopped) return stopped;
      stopped = exited;
      if (hasExited) return stopped;
      stopping = true;
      log.info({ pid, signal: input.stopSignal, stopTimeoutS: input.stopTimeoutS }, 'stopping the app');
      signalGroup(pid, input.stopSignal, log);
      killTimer = setTimeout(() => {
        log.warn({ pid, stopTimeoutS: input.stopTimeoutS }, `app still running ${input.stopTimeoutS}s after ${input.stopSignal}; sending SIGKILL`);
        signalGroup(pid, 'SIGKILL', log);
      }, input.stopTimeoutS * 1000);
      return stopped;
    },
    signal(sig: SignalName): void {
      if (hasExited) return;
      log.info({ pid, signal: sig }, 'signalling the app');
      signalGroup(pid, sig, log);
    },
  };
}

function failedHandle(input: StartAppInput, log: Logger, subprocess: ChildProcess | undefined, thrown: unknown): AppHandle {
  // spawn reports a failure to start (ENOENT, EACCES...) as an 'error' event on the next tick.
  const failed = subprocess ? new Promise<unknown>((resolve) => subprocess.once('error', resolve)) : Promise.resolve(thrown);
  const settle = async (): Promise<never> => {
    const cause = await failed;
    const error = new AppFailedError(`cannot start the app (${input.command.join(' ') || '<empty command>'}) in ${input.cwd}: ${spawnReason(input.cwd, cause)}`, { cause });
    log.error({ command: input.command, cwd: input.cwd, err: describeError(error) }, 'app failed to start');
    throw error;
  };
  const exited = settle();
  exited.catch(() => {}); // the caller may look at `exited` later; never an unhandled rejection
  return { pid: 0, exited, stop: () => exited, signal: () => {} };
}

function spawnReason(cwd: string, cause: unknown): string {
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (code === 'ENOENT') return existsSync(cwd) ? 'program not found (ENOENT)' : 'the working directory does not exist (ENOENT)';
  if (code === 'EACCES') return 'permission denied, is the program executable? (EACCES)';
  if (code === 'EPERM') return 'not permitted, e.g. switching to the app user needs root (EPERM)';
  return describeError(cause);
}

/** Each output line becomes one log line; resolves when the stream ended or closed. */
function forwardLines(stream: Readable | null, log: Logger): Promise<void> {
  if (!stream) return Promise.resolve();
  const splitter = createLineSplitter({
    maxChars: APP_LINE_MAX_CHARS,
    onLine: (line, truncated) => (truncated ? log.info({ truncated: true }, line) : log.info(line)),
  });
  stream.setEncoding('utf8');
  return new Promise((resolve) => {
    const finish = (): void => {
      splitter.end();
      resolve();
    };
    stream.on('data', (chunk: string) => splitter.push(chunk));
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', (err) => {
      log.debug({ err: describeError(err) }, 'reading app output failed');
      finish();
    });
  });
}

/** Wait for the output to be logged, but not forever: an escaped process may hold the pipes. */
async function drainOutput(output: Promise<unknown>, subprocess: ChildProcess): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, OUTPUT_DRAIN_MS);
  });
  await Promise.race([output, cap]);
  clearTimeout(timer);
  subprocess.stdout?.destroy();
  subprocess.stderr?.destroy();
}

/**
 * Signal the whole group. While the app runs (`leaderAlive`) and has left its group,
 * signal at least the app itself; after it exited its pid may belong to someone else.
 */
function signalGroup(pid: number, sig: NodeJS.Signals, log: Logger, leaderAlive = true): void {
  try {
    process.kill(-pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
      log.warn({ pid, signal: sig, err: describeError(err) }, 'could not signal the app');
      return;
    }
    if (!leaderAlive) return;
    try {
      process.kill(pid, sig);
    } catch {
      // Gone already: nothing to signal.
    }
  }
}

/** The group lives and dies with the app: children it left behind would hold its port. */
function killLeftovers(pid: number, log: Logger): void {
  try {
    process.kill(-pid, 0);
  } catch {
    return; // the group is empty
  }
  log.warn({ pid }, 'killing processes the app left behind in its process group');
  signalGroup(pid, 'SIGKILL', log, false);
}

export function describeExit(exit: Pick<AppExit, 'code' | 'signal'>): string {
  if (exit.signal) return `killed by ${exit.signal}`;
  return `exit code ${exit.code ?? 'unknown'}`;
}
