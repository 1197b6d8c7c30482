// When an app exits on its own: how long until it is started again, and whether that makes a
// crash loop. Pure; the runner keeps the one count this reads, so /status, the restart metric
// and the crash-loop decision always agree.
import { backoffDelay } from './backoff.ts';

/** Restarts, since the app last ran stable, after which one more exit is a crash loop. */
export const CRASH_LOOP_RESTARTS = 3;
/** An app healthy this long after its (re)start is stable again: its restart streak is forgotten. */
export const STABLE_AFTER_MS = 60_000;

export interface RestartPlan {
  /** Wait this long before starting it again. */
  delayMs: number;
  /** The app keeps dying: it has been restarted CRASH_LOOP_RESTARTS times and exited again. */
  crashLoop: boolean;
}

/** `streak`: restarts already made since the app last ran stable. */
export function planRestart(streak: number, random: () => number): RestartPlan {
  return {
    delayMs: backoffDelay(streak + 1, { baseMs: 1_000, maxMs: 60_000, jitter: random }),
    crashLoop: streak >= CRASH_LOOP_RESTARTS,
  };
}
