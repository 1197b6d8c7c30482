// herd pause / herd resume: stop and restart a role's rollout. While paused, agents keep
// what they run (rollout/decide.ts). The channel is rewritten with If-Match on its ETag.
import { UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { roleSchema, type Channel } from '../store/schemas.ts';
import { parseFlag } from '../flags.ts';
import { readChannelForWrite, writeChannel, type ChannelWriteFlags } from './channel-write.ts';

export interface PauseInput {
  store: ObjectStore;
  role: string;
  /** true for `herd pause`, false for `herd resume`. */
  paused: boolean;
  actor: string;
  /** --sign-key / --expires-in / --unsigned. */
  write?: ChannelWriteFlags;
  log: Logger;
  now?: Date;
}

export interface PauseResult {
  channel: Channel;
  /** false when the channel was already in the asked state: nothing was written. */
  changed: boolean;
  /** Key id of the channel's signature written; null when unsigned or nothing was written. */
  signedBy?: string | null;
}

/**
 * Pure: the channel after pause or resume, or `changed: false` with the channel as it is
 * when it is already so. Resuming a wave rollout that was cut short by the pause moves
 * its start later by the time spent paused, so the remaining waves keep their spacing
 * instead of all coming due at once; waves already due before the pause stay due.
 */
export function pausedChannel(input: { current: Channel; paused: boolean; actor: string; now: Date }): PauseResult {
  const { current, now } = input;
  if (current.paused === input.paused) return { channel: current, changed: false };
  const rollout = input.paused ? current.rollout : { ...current.rollout, startedAt: resumedStart(current, now) };
  return {
    channel: {
      ...current,
      rollout,
      paused: input.paused,
      generation: current.generation + 1,
      updatedAt: now.toISOString(),
      updatedBy: input.actor,
    },
    changed: true,
  };
}

/**
 * A paused channel's `updatedAt` is when it was paused, or when a roll onto the paused
 * channel started its rollout (rollback unpauses it). The start moves only if the last
 * wave was not yet due then, so a rollout rolled while paused starts its waves at resume.
 */
function resumedStart(current: Channel, now: Date): string {
  const { waves, waveIntervalS, startedAt } = current.rollout;
  const start = Date.parse(startedAt);
  const pausedAt = Date.parse(current.updatedAt);
  const lastWaveAt = start + (waves - 1) * waveIntervalS * 1000;
  const pausedFor = now.getTime() - pausedAt;
  if (waves <= 1 || pausedAt >= lastWaveAt || pausedFor <= 0) return startedAt;
  return new Date(start + pausedFor).toISOString();
}

/** Pure: the line people see, e.g. "web: paused on v2 (generation 4)". */
export function describePause(result: PauseResult): string {
  const { channel, changed } = result;
  const state = channel.paused ? 'paused' : 'running';
  return changed
    ? `${channel.role}: ${state} on ${channel.release} (generation ${channel.generation})`
    : `${channel.role}: already ${state}; nothing changed (generation ${channel.generation})`;
}

export async function setPaused(input: PauseInput): Promise<PauseResult> {
  const role = parseFlag('role', roleSchema, input.role);
  const read = await readChannelForWrite(input.store, role);
  const verb = input.paused ? 'pause' : 'resume';
  if (!read.channel) throw new UsageError(`role ${role} has no channel yet; nothing to ${verb} (run herd roll first)`);
  const now = input.now ?? new Date();
  const result = pausedChannel({ current: read.channel, paused: input.paused, actor: input.actor, now });
  if (!result.changed) {
    input.log.info({ role, paused: input.paused, generation: result.channel.generation }, `channel already ${input.paused ? 'paused' : 'running'}; nothing written`);
    return { ...result, signedBy: null };
  }
  const { channel, signedBy } = await writeChannel({ store: input.store, current: read, next: result.channel, flags: input.write ?? {}, now, log: input.log });
  input.log.info({ role, paused: input.paused, generation: channel.generation }, input.paused ? 'channel paused' : 'channel resumed');
  return { channel, changed: true, signedBy };
}
