// One serialized loop: each pass observes, decides and acts (the `pass` it is given); between
// passes it sleeps until the next poll, a time the pass named (a wave falling due), or a
// backoff after a failure. Events only nudge it awake; stop ends every sleep. Config changes
// and stopping run through `exclusive`, so nothing interleaves with a pass. No decisions here.
import type { Clock } from '../clock.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';

export type PassOutcome =
  /** Something was done: look again now (the channel as last read). */
  | { kind: 'progress' }
  /** Nothing to do: look again at the next poll, or at `until` if sooner. */
  | { kind: 'settled'; until: number | null }
  /** A read or a step failed: look again after a backoff that grows with each failure in a row. */
  | { kind: 'failed' };

export interface LoopInput {
  /** One observe-decide-act pass; `poll` says whether to read the channel afresh. */
  pass: (poll: boolean) => Promise<PassOutcome>;
  /** The delay until the next poll (with jitter). */
  pollDelayMs: () => number;
  /** The delay after `failures` failures in a row (with jitter). */
  backoffMs: (failures: number) => number;
  clock: Clock;
  log: Logger;
}

/** Passes in a row that may report progress before the loop pauses anyway: a guard against a step that never settles. */
const MAX_PROGRESS_IN_A_ROW = 20;

/** When the loop looks at the channel again, and what it counts: the loop's whole memory between passes. */
export interface LoopSchedule {
  /** The next pass at or after this time reads the channel afresh. */
  nextPollAt: number;
  /** Failed passes in a row (the backoff grows with them). */
  failures: number;
  /** Passes in a row that reported progress. */
  progressInARow: number;
}

export const FIRST_SCHEDULE: LoopSchedule = { nextPollAt: -Infinity, failures: 0, progressInARow: 0 };

/** Pure: a pass begins at `now`; whether it polls, and the schedule it leaves (the next poll set from now when it does). */
export function beginPass(s: LoopSchedule, now: number, pollDelayMs: () => number): { poll: boolean; schedule: LoopSchedule } {
  const poll = now >= s.nextPollAt;
  return { poll, schedule: poll ? { ...s, nextPollAt: now + pollDelayMs() } : s };
}

/**
 * Pure: after a pass that ended at `now` with `outcome`, when the next one runs: `wakeAt`
 * null means at once (progress); else the next poll, a time the pass named if sooner, or a
 * backoff after a failure (which also moves the next poll).
 */
export function afterPass(s: LoopSchedule, outcome: PassOutcome, now: number, backoffMs: (failures: number) => number): { wakeAt: number | null; schedule: LoopSchedule } {
  if (outcome.kind === 'failed') {
    const failures = s.failures + 1;
    const nextPollAt = now + backoffMs(failures);
    return { wakeAt: nextPollAt, schedule: { nextPollAt, failures, progressInARow: 0 } };
  }
  if (outcome.kind === 'progress' && s.progressInARow + 1 < MAX_PROGRESS_IN_A_ROW) {
    return { wakeAt: null, schedule: { ...s, progressInARow: s.progressInARow + 1 } };
  }
  const failures = outcome.kind === 'settled' ? 0 : s.failures;
  const wakeAt = outcome.kind === 'settled' && outcome.until !== null ? Math.min(s.nextPollAt, outcome.until) : s.nextPollAt;
  return { wakeAt, schedule: { nextPollAt: s.nextPollAt, failures, progressInARow: 0 } };
}

export class ReconcileLoop {
  private readonly input: LoopInput;
  private readonly stopController = new AbortController();
  private wake = new AbortController();
  private nudged = false;
  private queue: Promise<unknown> = Promise.resolve();
  private running: Promise<void> | null = null;

  constructor(input: LoopInput) {
    this.input = input;
  }

  /** Aborts when the loop is stopped. */
  get stopping(): AbortSignal {
    return this.stopController.signal;
  }

  /** Something changed (app exited, notice, config): run a pass soon, without waiting for the poll. */
  nudge(): void {
    this.nudged = true;
    this.wake.abort();
  }

  /** Runs `fn` after everything queued before it; passes, reconfigurations and stopping never interleave. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Ends every sleep, waits for the pass in flight, and returns once the loop is over. */
  async stop(): Promise<void> {
    this.stopController.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    const { clock, log } = this.input;
    let schedule = FIRST_SCHEDULE;
    while (!this.stopping.aborted) {
      const begun = beginPass(schedule, clock.now(), this.input.pollDelayMs);
      schedule = begun.schedule;
      this.nudged = false;
      const outcome = await this.exclusive(() => this.input.pass(begun.poll)).catch((err: unknown): PassOutcome => {
        log.error({ err: describeError(err) }, 'a pass of the agent loop failed');
        return { kind: 'failed' };
      });
      if (this.stopping.aborted) return;
      const now = clock.now();
      const next = afterPass(schedule, outcome, now, this.input.backoffMs);
      schedule = next.schedule;
      if (next.wakeAt === null || this.nudged) continue;
      this.wake = new AbortController();
      await clock.sleep(next.wakeAt - now, AbortSignal.any([this.wake.signal, this.stopping]));
    }
  }
}
