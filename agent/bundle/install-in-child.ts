// How the agent installs a bundle: in a short-lived child process of its own executable
// (`herd install-bundle`, install-child.ts), which verifies, keeps and extracts the bytes the
// agent streams to its stdin. The agent downloads (its sources, credentials and failover stay
// here) but never loads tar or zlib, and the memory an install takes leaves with the child;
// the child runs with V8's defaults, so it extracts at full speed while the agent itself runs
// in lite mode (agent-v8.ts). `herd pull` installs in its own process (install.ts).
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { LITE_MODE } from '../agent-v8.ts';
import { HerdError, IntegrityError, StoreError, UnsafeArchiveError } from '../errors.ts';
import type { InstallInput } from './install.ts';
import type { InstallOutcome, InstallRequest } from './install-child.ts';
import type { ExtractResult } from './extract-sink.ts';

/** The argv that runs `herd <args>` with this process's own executable, without lite mode. */
export function herdCommand(args: string[]): [string, string[]] {
  const executable = process.getBuiltinModule('node:sea').isSea();
  const nodeArgs = executable ? [] : [...process.execArgv.filter((a) => a !== LITE_MODE), process.argv[1] as string];
  return [process.execPath, [...nodeArgs, ...args]];
}

// Errors come back by name; these keep their class (and so their exit code and how
// fetch-release.ts files them). Any other is a HerdError.
const ERRORS: Record<string, new (message: string) => HerdError> = { IntegrityError, UnsafeArchiveError, StoreError, HerdError };

/** Installs each bundle in a child started by `command` (default: this executable, as herdCommand). */
export function childInstaller(command: (args: string[]) => [string, string[]] = herdCommand): (input: InstallInput) => Promise<ExtractResult> {
  return (input) => installInChild(input, command);
}

async function installInChild(input: InstallInput, command: (args: string[]) => [string, string[]]): Promise<ExtractResult> {
  const { body, log, ...rest } = input;
  // The child's lines carry its own pid; the rest of the context (release, module) is the agent's.
  const { pid: _pid, ...logBindings } = log.bindings();
  const request: InstallRequest = { ...rest, logLevel: log.level, logBindings };
  const [program, args] = command(['install-bundle', JSON.stringify(request)]);
  // fd 3 carries the outcome (install-child.ts, OUTCOME_FD).
  const child = spawn(program, args, { stdio: ['pipe', 'inherit', 'inherit', 'pipe'] });
  // An agent that exits (a stop in the middle of a fetch) takes its installer with it; one
  // killed outright closes its stdin, and the child ends on the short bundle.
  const stopChild = () => child.kill('SIGKILL');
  process.once('exit', stopChild);
  const outcome = readOutcome(child.stdio[3] as NodeJS.ReadableStream);
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  }).finally(() => process.off('exit', stopChild));
  try {
    // EPIPE when the child refuses the bundle and exits early: its outcome says why.
    await pipeline(body, child.stdin as NodeJS.WritableStream).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
    });
  } catch (err) {
    // The download failed: the child would only see a short bundle. Stop it, drop its copy.
    child.kill('SIGKILL');
    await exited.catch(() => undefined);
    if (input.blobFile !== undefined) await rm(`${input.blobFile}.part`, { force: true });
    throw err;
  }
  const [code, result] = await Promise.all([exited, outcome]);
  if (result?.ok) return result.result;
  if (input.blobFile !== undefined) await rm(`${input.blobFile}.part`, { force: true });
  if (result) throw new (ERRORS[result.error.name] ?? HerdError)(result.error.message);
  throw new HerdError(`the bundle installer (${program} install-bundle) exited with ${code ?? 'a signal'} and no outcome`);
}

async function readOutcome(stream: NodeJS.ReadableStream): Promise<InstallOutcome | null> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  try {
    return JSON.parse(text) as InstallOutcome;
  } catch {
    return null;
  }
}
