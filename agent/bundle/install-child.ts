// The other end of install-in-child.ts: `herd install-bundle JSON`, started by the agent for
// each bundle it fetches. It reads the bundle's bytes on stdin, verifies, keeps and extracts
// them (installBundle), logs to stdout as the agent does, and writes one JSON line on fd 3:
// { ok: true, result } or { ok: false, error: { name, message } }. It is not a command for
// people: it takes no flags and is not in --help.
import { writeSync } from 'node:fs';
import { describeError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { installBundle, type InstallInput } from './install.ts';

/** What the agent hands over: installBundle's input but the body and the logger. */
export type InstallRequest = Omit<InstallInput, 'body' | 'log'> & { logLevel: string; logBindings: Record<string, unknown> };

/** The fd the outcome is written to. */
export const OUTCOME_FD = 3;

export type InstallOutcome =
  | { ok: true; result: { entries: number; bytes: number } }
  | { ok: false; error: { name: string; message: string } };

/** Runs one install from `requestJson` and stdin; returns the process's exit code. */
export async function runInstallChild(requestJson: string | undefined): Promise<number> {
  let outcome: InstallOutcome;
  try {
    const request = JSON.parse(requestJson ?? '') as InstallRequest;
    const { logLevel, logBindings, ...input } = request;
    const log = createLogger({ level: logLevel, fd: 1 }).child(logBindings);
    outcome = { ok: true, result: await installBundle({ ...input, body: process.stdin, log }) };
  } catch (err) {
    outcome = { ok: false, error: { name: err instanceof Error ? err.name : 'Error', message: describeError(err) } };
  }
  writeSync(OUTCOME_FD, `${JSON.stringify(outcome)}\n`);
  return outcome.ok ? 0 : 1;
}
