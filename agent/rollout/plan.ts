// Pure decisions about applying a release on a running instance, and when to look again.
import { isDeepStrictEqual } from 'node:util';
import type { ReleaseManifest, SignalName } from '../store/schemas.ts';
import { backoffDelay } from '../supervisor/backoff.ts';

export type ApplyPlan =
  | { kind: 'none' }
  | { kind: 'start' }
  | { kind: 'reload'; signal: SignalName }
  | { kind: 'restart' };

/**
 * How to get from what runs to `target`: nothing to do, a first start, a config-only
 * change the app can take with its reload signal (same code, same run spec), or a restart.
 */
export function planApply(running: ReleaseManifest | null, target: ReleaseManifest): ApplyPlan {
  if (!running) return { kind: 'start' };
  if (running.id === target.id) return { kind: 'none' };
  const sameCode = running.code.digest === target.code.digest && isDeepStrictEqual(running.run, target.run);
  if (sameCode && target.run.reloadSignal) return { kind: 'reload', signal: target.run.reloadSignal };
  return { kind: 'restart' };
}

/** The next poll: the interval spread by ±20% so a fleet does not poll in lockstep. */
export function pollDelayMs(intervalS: number, jitter: () => number): number {
  return Math.round(intervalS * 1000 * (0.8 + 0.4 * jitter()));
}

/**
 * When an instance waiting for its wave looks again: at a random point of the poll interval
 * after the wave falls due, so that a wave's instances take it over one interval, as a roll at
 * once does, and do not all fetch the same bundle and write their reports in the same second
 * (10,000 instances in one wave would ask one key for 10,000 GET/s; docs/scale.md).
 */
export function waveWakeMs(dueMs: number, pollIntervalS: number, jitter: () => number): number {
  return dueMs + Math.round(pollIntervalS * 1000 * jitter());
}

/**
 * The wait after `failures` failed passes in a row (the store down, a fetch refused): while
 * an app serves, from one poll interval up to a minute (a fleet must not hammer a store that
 * is struggling); with nothing running yet, from a second up to one poll interval, to get
 * serving soon.
 */
export function retryDelayMs(input: { failures: number; serving: boolean; pollIntervalS: number; jitter: () => number }): number {
  const pollMs = input.pollIntervalS * 1000;
  return input.serving
    ? backoffDelay(input.failures, { baseMs: pollMs, maxMs: Math.max(60_000, pollMs), jitter: input.jitter })
    : backoffDelay(input.failures, { baseMs: 1_000, maxMs: Math.max(1_000, pollMs), jitter: input.jitter });
}

/**
 * Whether a crash loop should send the instance back to the release it ran before: only
 * while the new release is young. An app that ran well for long and then crash-loops has
 * a cause outside the release (a database down); going back would not help.
 */
export function shouldRollBackCrashLoop(input: { crashLoop: boolean; hasPrevious: boolean; switchedAtMs: number | null; nowMs: number; windowMs: number }): boolean {
  if (!input.crashLoop || !input.hasPrevious || input.switchedAtMs === null) return false;
  return input.nowMs - input.switchedAtMs <= input.windowMs;
}
