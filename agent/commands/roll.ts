// herd roll: points the role's channel at a published release. The channel is rewritten
// with If-Match on its ETag (If-None-Match when new), so concurrent operators conflict
// loudly instead of overwriting each other; with --sign-key it is signed (channel-write.ts).
import * as z from '../zod.ts';
import { UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { converged } from '../rollout/progress.ts';
import { CHANNEL_SCHEMA, channelSchema, releaseIdSchema, roleSchema, type Channel, type InstanceReport } from '../store/schemas.ts';
import { DEFAULT_STALE_AFTER_S } from './defaults.ts';
import { parseFlag, parseFlags } from '../flags.ts';
import { readChannelForWrite, writeChannel, type ChannelWriteFlags, type WrittenChannel } from './channel-write.ts';

export interface RollInput {
  store: ObjectStore;
  role: string;
  release: string;
  percent?: number;
  waves?: number;
  waveIntervalS?: number;
  /** Instances that may fail the release before the rollout halts (absent: the default, 1). */
  maxFailures?: number;
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
 * Pure: the channel after a roll. `previous` becomes what the fleet ran before: the current
 * release once the fleet converged on it, else (a rollout halted or still under way) the
 * current `previous`, which instances outside the new rollout and waiting for their wave keep
 * running. A paused channel stays paused: the new release waits for `herd resume`.
 */
export function nextChannel(input: {
  current: Channel | null; converged?: boolean; role: string; release: string; percent: number; waves: number; waveIntervalS: number;
  maxFailures?: number | undefined; actor: string; now: Date; generation?: number;
}): Channel {
  const { current } = input;
  const previous = !current ? null : current.release === input.release || input.converged === false ? current.previous : current.release;
  return {
    schema: CHANNEL_SCHEMA,
    role: input.role,
    release: input.release,
    previous,
    rollout: {
      percent: input.percent, waves: input.waves, waveIntervalS: input.waveIntervalS, startedAt: input.now.toISOString(),
      ...(input.maxFailures !== undefined ? { maxFailures: input.maxFailures } : {}),
    },
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
  maxFailures: rolloutSchema.maxFailures,
});

/** The rollout flags with their defaults, or UsageError naming the bad flag. */
export function validateRollFlags(input: { percent?: number; waves?: number; waveIntervalS?: number; maxFailures?: number }): {
  percent: number; waves: number; waveIntervalS: number; maxFailures?: number | undefined;
} {
  const plan = parseFlags(rollFlagsSchema, { percent: input.percent, waves: input.waves, waveIntervalS: input.waveIntervalS, maxFailures: input.maxFailures });
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
  const converged = current.channel && current.channel.release !== release ? await convergedOn(input.store, current.channel, now) : true;
  const next = nextChannel({ current: current.channel, converged, role, release, ...plan, generation, actor: input.actor, now });
  const written = await writeChannel({ store: input.store, current, next, flags: input.write ?? {}, now, log: input.log });
  const { channel } = written;
  input.log.info({ role, release, previous: channel.previous, generation: channel.generation }, 'channel rolled');
  return written;
}

/** Whether the fleet converged on the channel's release (rollout/progress.ts), from the store. */
async function convergedOn(store: ObjectStore, channel: Channel, now: Date): Promise<boolean> {
  const [reports, markers] = await Promise.all([store.listReports(channel.role), store.listFailureMarkers(channel.role, channel.release)]);
  return converged({ channel, reports: reports.filter((r): r is InstanceReport => !('error' in r)), markers, now, staleAfterS: DEFAULT_STALE_AFTER_S });
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
