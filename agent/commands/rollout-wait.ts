// herd roll --wait and herd status --wait: follow a rollout through the instance reports and
// the failure markers until every instance in it runs the release healthy (done), it halts,
// an instance goes back, someone else rolls, or the time is up. Prints a progress line each
// time the counts change. The judgement is rollout/progress.ts's; this only reads and waits.
import { HerdError, UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { describeHalt } from '../rollout/halt.ts';
import { describeProgress, rolloutProgress, type Progress } from '../rollout/progress.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { Channel, InstanceReport } from '../store/schemas.ts';
import { sleep } from '../clock.ts';
import { DEFAULT_STALE_AFTER_S } from './defaults.ts';
import type { Output } from './output.ts';

export const DEFAULT_WAIT_TIMEOUT_S = 900;
const DEFAULT_INTERVAL_S = 5;

/** The rollout did not finish well: halted, an instance went back, superseded, or out of time (exit 1). */
export class RolloutNotDoneError extends HerdError {
  override readonly code: string = 'ROLLOUT';
}

export interface WaitInput {
  store: ObjectStore;
  role: string;
  /** The generation to follow; absent: the channel's as first read. */
  generation?: number;
  timeoutS?: number;
  intervalS?: number;
  staleAfterS?: number;
  out: Output;
  log: Logger;
  now?: () => number;
  wait?: (ms: number) => Promise<void>;
}

export interface WaitResult {
  channel: Channel;
  progress: Progress;
  seconds: number;
}

/** Resolves once the rollout is done; throws RolloutNotDoneError (exit 1) naming why it is not. */
export async function waitForRollout(input: WaitInput): Promise<WaitResult> {
  const now = input.now ?? Date.now;
  const wait = input.wait ?? ((ms: number) => sleep(ms));
  const timeoutS = input.timeoutS ?? DEFAULT_WAIT_TIMEOUT_S;
  if (!(timeoutS > 0)) throw new UsageError('--timeout takes a number of seconds above 0');
  const started = now();
  let generation = input.generation;
  let lastLine = '';
  for (;;) {
    const read = await input.store.getChannel(input.role);
    if (read.kind !== 'found') throw new RolloutNotDoneError(`role ${input.role} has no channel to wait on`);
    const channel = read.channel;
    generation ??= channel.generation;
    if (channel.generation !== generation) {
      throw new RolloutNotDoneError(`the channel moved on to generation ${channel.generation} (${channel.release}, by ${channel.updatedBy}) while waiting on generation ${generation}`);
    }
    const [reports, markers] = await Promise.all([input.store.listReports(input.role), input.store.listFailureMarkers(input.role, channel.release)]);
    const progress = rolloutProgress({
      channel, reports: reports.filter((r): r is InstanceReport => !('error' in r)), markers, now: new Date(now()), staleAfterS: input.staleAfterS ?? DEFAULT_STALE_AFTER_S,
    });
    const line = describeProgress(channel, progress);
    if (line !== lastLine) input.out.info(line);
    lastLine = line;
    const seconds = (now() - started) / 1000;
    const { outcome } = progress;
    if (outcome.kind === 'done') return { channel, progress, seconds };
    if (outcome.kind === 'halted') throw new RolloutNotDoneError(describeHalt(channel, outcome.halt));
    if (outcome.kind === 'failed') {
      const who = outcome.failures.map((f) => `${f.instanceId} (${f.reason})`).join('; ');
      throw new RolloutNotDoneError(`${outcome.failures.length} instance${outcome.failures.length === 1 ? '' : 's'} failed ${channel.release} and went back: ${who}`);
    }
    if (seconds >= timeoutS) {
      const paused = outcome.kind === 'paused' ? ' (the rollout is paused: herd resume lets it go on)' : '';
      throw new RolloutNotDoneError(`timed out after ${timeoutS}s${paused}: ${line}`);
    }
    input.log.debug({ role: input.role, outcome: outcome.kind }, 'rollout not done yet');
    await wait(Math.min((input.intervalS ?? DEFAULT_INTERVAL_S) * 1000, Math.max(0, timeoutS * 1000 - (now() - started))));
  }
}

/** The flags of roll --wait and status --wait. */
export interface RollWaitFlags {
  wait?: boolean;
  timeout?: number;
  staleAfter?: number;
}

/** --wait: the rollout's progress on stderr, the outcome on stdout; exit 1 when it does not finish well. */
export async function followRollout(input: { store: ObjectStore; role: string; generation?: number; flags: RollWaitFlags; out: Output; log: Logger }): Promise<void> {
  const { flags } = input;
  const done = await waitForRollout({
    store: input.store, role: input.role, out: input.out, log: input.log,
    ...(input.generation !== undefined ? { generation: input.generation } : {}),
    ...(flags.timeout !== undefined ? { timeoutS: flags.timeout } : {}),
    ...(flags.staleAfter !== undefined ? { staleAfterS: flags.staleAfter } : {}),
  });
  const c = done.progress.counts;
  input.out.result(
    `${done.channel.role}: every instance in the rollout runs ${done.channel.release} healthy (${c.done}; ${Math.round(done.seconds)}s)`,
    { channel: done.channel, counts: c, stale: done.progress.stale, seconds: done.seconds },
  );
}

