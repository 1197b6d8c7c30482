// Pure decisions: which release this instance should run, given the channel, who it is
// and what failed here. No I/O; tested as tables.
import { createHash } from 'node:crypto';
import type { Channel } from '../store/schemas.ts';
import type { LocalState } from '../releases/state.ts';

/** A stable slot 0-99 from the instance id: the same instance lands in the same place every time. */
export function slotOf(instanceId: string): number {
  return createHash('sha256').update(instanceId).digest().readUInt32BE(0) % 100;
}

/** The wave (0-based) an in-rollout slot belongs to: slots below `percent` split evenly into `waves`. */
export function waveOf(slot: number, percent: number, waves: number): number {
  if (percent <= 0) return 0;
  return Math.min(waves - 1, Math.floor((slot * waves) / percent));
}

export type Decision =
  | { kind: 'run'; release: string; reason: string }
  | { kind: 'wait'; release: string; reason: string; until: Date | null };

export interface DecideInput {
  channel: Channel;
  instanceId: string;
  now: Date;
  state: Pick<LocalState, 'failed'>;
  /** What runs here now, if anything. */
  running: string | null;
}

export function decideRelease(input: DecideInput): Decision {
  const { channel, now } = input;
  const target = channel.release;
  const previous = channel.previous;
  const fallback = input.running ?? previous ?? target;

  const failed = input.state.failed[target];
  if (failed && failed.generation === channel.generation) {
    return { kind: 'wait', release: fallback, reason: `release ${target} failed here for this channel generation; not retried`, until: null };
  }
  if (channel.paused && input.running) {
    return { kind: 'wait', release: input.running, reason: 'channel is paused', until: null };
  }
  const slot = slotOf(input.instanceId);
  const { percent, waves, waveIntervalS, startedAt } = channel.rollout;
  if (slot >= percent) {
    // Outside the rollout: keep the previous release; with none, there is nothing else to run.
    const release = previous ?? target;
    return { kind: 'run', release, reason: `slot ${slot} is outside the ${percent}% rollout` };
  }
  const wave = waveOf(slot, percent, waves);
  const at = new Date(Date.parse(startedAt) + wave * waveIntervalS * 1000);
  if (at.getTime() > now.getTime() && previous && input.running !== target) {
    // Until its wave is due an instance runs `previous`, as one outside the rollout does.
    return { kind: 'wait', release: previous, reason: `slot ${slot} is in wave ${wave}, due at ${at.toISOString()}`, until: at };
  }
  return { kind: 'run', release: target, reason: `slot ${slot} is in the ${percent}% rollout (wave ${wave})` };
}
