// What the simulated store holds: two releases of one role and the channel's versions, each
// visible at a source from a given time (a mirror or a cache serves a new channel later). Pure.
import type { ChannelView } from '../../agent/daemon/decide.ts';
import { CHANNEL_SCHEMA, RELEASE_SCHEMA, type Channel, type ReleaseManifest } from '../../agent/store/schemas.ts';

export const ROLE = 'web';

/** A release whose code bundle is `codeBytes` long; every release shares one config bundle. */
export function makeRelease(id: string, hexDigit: string, codeBytes: number): ReleaseManifest {
  return {
    schema: RELEASE_SCHEMA, role: ROLE, id, createdAt: '2026-01-01T00:00:00.000Z',
    code: { digest: `sha256:${hexDigit.repeat(64)}`, size: codeBytes },
    config: { digest: `sha256:${'c'.repeat(64)}`, size: 2_000 },
    run: { command: ['node', 'server.mjs'], port: 8080, health: { path: '/healthz', timeoutS: 60 } },
  };
}

export function makeChannel(input: {
  release: string; previous: string | null; generation: number; at: number;
  rollout?: { percent: number; waves: number; waveIntervalS: number };
}): Channel {
  const at = new Date(input.at).toISOString();
  const rollout = input.rollout ?? { percent: 100, waves: 1, waveIntervalS: 0 };
  return {
    schema: CHANNEL_SCHEMA, role: ROLE, release: input.release, previous: input.previous,
    rollout: { ...rollout, startedAt: at }, paused: false, generation: input.generation, updatedAt: at, updatedBy: 'bench-scale',
  };
}

/** A channel version, with the view of it an agent observes (one object, shared). */
export interface ChannelVersion { generation: number; channel: Channel; view: ChannelView; visibleAt: number }

export function channelVersion(channel: Channel, visibleAt: number): ChannelVersion {
  return { generation: channel.generation, channel, view: { kind: 'found', channel }, visibleAt };
}

/** The newest version a source serves at `now`. */
export function channelAt(versions: readonly ChannelVersion[], now: number): ChannelVersion {
  let best = versions[0];
  for (const v of versions) if (v.visibleAt <= now && (!best || v.generation > best.generation)) best = v;
  if (!best) throw new Error('a source with no channel version');
  return best;
}
