// herd rollback: points the role's channel back at `previous`, for the whole fleet at
// once. The channel is rewritten with If-Match on the ETag read, so a concurrent change
// by another operator is refused (where the store supports conditional writes).
import { NotFoundError, UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { roleSchema, type Channel } from '../store/schemas.ts';
import { parseFlag } from '../flags.ts';
import { readChannelForWrite, writeChannel, type ChannelWriteFlags } from './channel-write.ts';

export interface RollbackInput {
  store: ObjectStore;
  role: string;
  actor: string;
  /** --sign-key / --expires-in / --unsigned. */
  write?: ChannelWriteFlags;
  log: Logger;
  now?: Date;
}

export interface RollbackResult {
  channel: Channel;
  /** Key id of the channel's signature written; null when unsigned. */
  signedBy: string | null;
  /** The release the channel pointed at before the rollback. */
  from: string;
  /** The channel was paused; a rollback resumes it, or agents would not move. */
  wasPaused: boolean;
}

/**
 * Pure: the channel after a rollback. `release` and `previous` swap, the rollout is 100%
 * in one wave starting now (a rollback is an emergency: no waves), and it is unpaused.
 * Throws UsageError (exit 2) when there is nothing to roll back to.
 */
export function rollbackChannel(input: { current: Channel; actor: string; now: Date }): Channel {
  const { current } = input;
  if (current.previous === null) {
    throw new UsageError(`nothing to roll back to: role ${current.role} runs ${current.release} and its channel has no previous release`);
  }
  if (current.previous === current.release) {
    throw new UsageError(`nothing to roll back to: role ${current.role}'s previous release is ${current.release}, the one it runs`);
  }
  const now = input.now.toISOString();
  return {
    ...current,
    release: current.previous,
    previous: current.release,
    rollout: { percent: 100, waves: 1, waveIntervalS: 0, startedAt: now },
    paused: false,
    generation: current.generation + 1,
    updatedAt: now,
    updatedBy: input.actor,
  };
}

export async function rollback(input: RollbackInput): Promise<RollbackResult> {
  const role = parseFlag('role', roleSchema, input.role);
  const read = await readChannelForWrite(input.store, role);
  const current = read.channel;
  if (!current) throw new UsageError(`role ${role} has no channel yet; nothing to roll back (run herd roll first)`);
  const now = input.now ?? new Date();
  const next = rollbackChannel({ current, actor: input.actor, now });
  // Agents must be able to fetch what we point them at: refuse before touching the channel.
  try {
    await input.store.getManifest(role, next.release);
  } catch (err) {
    if (err instanceof NotFoundError) throw new NotFoundError(`cannot roll back to ${next.release}: ${err.message}`, { cause: err.cause });
    throw err;
  }
  const { channel, signedBy } = await writeChannel({ store: input.store, current: read, next, flags: input.write ?? {}, now, log: input.log });
  input.log.info({ role, release: channel.release, from: current.release, generation: channel.generation }, 'channel rolled back');
  return { channel, signedBy, from: current.release, wasPaused: current.paused };
}

/** Pure: what people are told when the rollback un-paused the channel, else null. */
export function resumedNote(result: RollbackResult): string | null {
  return result.wasPaused ? `channel ${result.channel.role} was paused; rollback resumes it` : null;
}
