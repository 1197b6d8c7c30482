// herd roll: points the role's channel at a published release. The channel is rewritten
// with If-Match on its ETag (If-None-Match when new), so concurrent operators conflict
// loudly instead of overwriting each other; with --sign-key it is signed (channel-write.ts).
import * as z from '../zod.ts';
import { UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { CHANNEL_SCHEMA, channelSchema, releaseIdSchema, roleSchema, type Channel } from '../store/schemas.ts';
import { parseFlag, parseFlags } from '../flags.ts';
import { readChannelForWrite, writeChannel, type ChannelWriteFlags, type WrittenChannel } from './channel-write.ts';

export interface RollInput {
  store: ObjectStore;
  role: string;
  release: string;
  percent?: number;
  waves?: number;
  waveIntervalS?: number;
  /**
   * --generation: the channel's new generation, above its current one (default: one above).
   * After the store was tampered with (an old signed channel put back), agents refuse every
   * generation up to the one they trusted; their refusal names it, and this gets above it.
   */
  generation?: number;
  actor: string;
  /** --sign-key / --expires-in / --unsigned. */
  write?: ChannelWriteFlags;
  log: Logger;
  now?: Date;
}

/**
 * Pure: the channel after a roll. `previous` becomes what the fleet ran before. A paused
 * channel stays paused: the new release waits for `herd resume` like the rest of the rollout.
 */
export function nextChannel(input: {
  current: Channel | null; role: string; release: string; percent: number; waves: number; waveIntervalS: number; actor: string; now: Date;
  generation?: number;
}): Channel {
  const { current } = input;
  const previous = current ? (current.release === input.release ? current.previous : current.release) : null;
  return {
    schema: CHANNEL_SCHEMA,
    role: input.role,
    release: input.release,
    previous,
    rollout: { percent: input.percent, waves: input.waves, waveIntervalS: input.waveIntervalS, startedAt: input.now.toISOString() },
    paused: current?.paused ?? false,
    generation: input.generation ?? (current?.generation ?? 0) + 1,
    updatedAt: input.now.toISOString(),
    updatedBy: input.actor,
  };
}

const rolloutSchema = channelSchema.shape.rollout.shape;
const rollFlagsSchema = z.object({
  percent: z._default(rolloutSchema.percent, 100),
  waves: z._default(rolloutSchema.waves, 1),
  waveIntervalS: z._default(rolloutSchema.waveIntervalS, 0),
});

/** The rollout flags with their defaults, or UsageError naming the bad flag. */
export function validateRollFlags(input: { percent?: number; waves?: number; waveIntervalS?: number }): { percent: number; waves: number; waveIntervalS: number } {
  const plan = parseFlags(rollFlagsSchema, { percent: input.percent, waves: input.waves, waveIntervalS: input.waveIntervalS });
  if (plan.waves > 1 && plan.waveIntervalS === 0) throw new UsageError('--waves above 1 needs --wave-interval SECONDS');
  return plan;
}

export async function roll(input: RollInput): Promise<WrittenChannel> {
  const role = parseFlag('role', roleSchema, input.role);
  const release = parseFlag('release', releaseIdSchema, input.release);
  const plan = validateRollFlags(input);
  // Refuses an unpublished (or unreadable) release before touching the channel.
  await input.store.getManifest(role, release);
  const current = await readChannelForWrite(input.store, role);
  const now = input.now ?? new Date();
  const generation = parseFlag('generation', z.int().check(z.minimum(1)), input.generation ?? (current.channel?.generation ?? 0) + 1);
  if (current.channel && generation <= current.channel.generation) {
    throw new UsageError(`--generation ${generation} is not above the channel's generation ${current.channel.generation}: a channel's generation only grows`);
  }
  const next = nextChannel({ current: current.channel, role, release, ...plan, generation, actor: input.actor, now });
  const written = await writeChannel({ store: input.store, current, next, flags: input.write ?? {}, now, log: input.log });
  const { channel } = written;
  input.log.info({ role, release, previous: channel.previous, generation: channel.generation }, 'channel rolled');
  return written;
}

/**
 * Pure: a warning for people when a roll will restart the whole fleet at once. Every instance
 * sees a 100%, one-wave change within about one poll interval and drains then; waves spread it.
 */
export function rollWarning(channel: Channel): string | null {
  if (!channel.previous || channel.previous === channel.release) return null;
  if (channel.rollout.percent < 100 || channel.rollout.waves > 1) return null;
  return 'every instance takes this release within about one poll interval, draining at nearly the same time; '
    + 'for a rolling release use --waves N --wave-interval SECONDS (or --percent to try it on a share first)';
}

/** Pure: what people are told when the roll landed on a paused channel, else null. */
export function pausedNote(channel: Channel): string | null {
  if (!channel.paused) return null;
  return `channel ${channel.role} is paused: release ${channel.release} will roll out when you run herd resume --role ${channel.role}`;
}
