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
    let failures = 0;
    let progressInARow = 0;
    let nextPollAt = -Infinity;
    while (!this.stopping.aborted) {
      const poll = clock.now() >= nextPollAt;
      if (poll) nextPollAt = clock.now() + this.input.pollDelayMs();
      this.nudged = false;
      const outcome = await this.exclusive(() => this.input.pass(poll)).catch((err: unknown): PassOutcome => {
        log.error({ err: describeError(err) }, 'a pass of the agent loop failed');
        return { kind: 'failed' };
      });
      if (this.stopping.aborted) return;
      const now = clock.now();
      let wakeAt: number;
      if (outcome.kind === 'failed') {
        failures += 1;
        progressInARow = 0;
        nextPollAt = now + this.input.backoffMs(failures);
        wakeAt = nextPollAt;
      } else if (outcome.kind === 'progress' && ++progressInARow < MAX_PROGRESS_IN_A_ROW) {
        continue;
      } else {
        if (outcome.kind === 'settled') failures = 0;
        progressInARow = 0;
        wakeAt = outcome.kind === 'settled' && outcome.until !== null ? Math.min(nextPollAt, outcome.until) : nextPollAt;
      }
      if (this.nudged) continue;
      this.wake = new AbortController();
      await clock.sleep(wakeAt - now, AbortSignal.any([this.wake.signal, this.stopping]));
    }
  }
}
