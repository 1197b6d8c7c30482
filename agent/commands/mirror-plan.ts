// herd mirror's decisions, pure: which releases a pass copies, whether a channel follows,
// and the summary line. The copying is mirror.ts's.
import type { Channel } from '../store/schemas.ts';
import { formatBytes } from './output.ts';

export interface RoleListing {
  releases: readonly string[];
  channel: Channel | null;
}

export interface ReleasePlan {
  /** Source releases without a manifest at the destination: copied this pass. */
  copy: string[];
  /** Source releases the destination has: their bytes are compared, nothing is written. */
  check: string[];
}

/** Which of the source's releases to copy and which to check; the destination's extras are left alone (never deletes). */
export function planReleases(source: readonly string[], dest: readonly string[]): ReleasePlan {
  const there = new Set(dest);
  const ids = [...new Set(source)].sort();
  return { copy: ids.filter((id) => !there.has(id)), check: ids.filter((id) => there.has(id)) };
}

/** Where a release stands at the destination after this pass's copying. */
export type ReleaseState = 'ok' | 'refused' | 'failed';

export type ChannelStep =
  | { action: 'copy'; generation: number }
  | { action: 'skip'; why: string }
  | { action: 'refuse'; why: string };

/**
 * The channel goes last and only forward: copied when every release it names (release and
 * previous) is at the destination and verified, and the destination's generation is lower
 * or absent, or the same generation signed again to expire later (herd resign). A mirror
 * never moves backwards, and never points agents at what it refused.
 */
export function decideChannel(source: Channel | null, dest: Channel | null, states: ReadonlyMap<string, ReleaseState>): ChannelStep {
  if (!source) return { action: 'skip', why: 'no channel at the source' };
  if (dest && dest.generation > source.generation) {
    return { action: 'skip', why: `the mirror is ahead (generation ${dest.generation} > ${source.generation}), not moved back` };
  }
  if (dest && dest.generation === source.generation && !expiresLater(source, dest)) {
    return { action: 'skip', why: `generation ${dest.generation} already there` };
  }
  for (const id of [source.release, source.previous]) {
    if (id === null) continue;
    const state = states.get(id);
    if (state === 'ok') continue;
    const why = state === undefined ? 'is not published at the source' : state === 'refused' ? 'was refused' : 'could not be copied';
    return { action: 'refuse', why: `generation ${source.generation} names release ${id}, which ${why}` };
  }
  return { action: 'copy', generation: source.generation };
}

/** `a` is signed to expire after `b` (a re-sign of the same generation). */
function expiresLater(a: Channel, b: Channel): boolean {
  return a.expiresAt !== undefined && (b.expiresAt === undefined || Date.parse(a.expiresAt) > Date.parse(b.expiresAt));
}

export interface Problem {
  kind: 'refused' | 'failed';
  role: string;
  /** The release, or null for the channel or the role as a whole. */
  release: string | null;
  why: string;
}

export interface RoleResult {
  role: string;
  releasesCopied: string[];
  releasesPresent: number;
  blobsCopied: number;
  bytesCopied: number;
  blobsSkipped: number;
  channel: ChannelStep;
  problems: Problem[];
}

/** `web: 3 releases copied, 5 blobs (12 MiB) copied, 2 skipped, channel generation 7 copied; refused: v3 (why)`. */
export function summarizeRole(r: RoleResult): string {
  const parts = [
    `${r.releasesCopied.length} release${r.releasesCopied.length === 1 ? '' : 's'} copied (${r.releasesPresent} already there)`,
    `${r.blobsCopied} blob${r.blobsCopied === 1 ? '' : 's'} (${formatBytes(r.bytesCopied)}) copied, ${r.blobsSkipped} skipped`,
    r.channel.action === 'copy' ? `channel generation ${r.channel.generation} copied`
      : r.channel.action === 'skip' ? `channel: ${r.channel.why}` : 'channel not copied',
  ];
  const problems = r.problems.map((p) => `${p.kind} ${p.release ?? 'channel'} (${p.why})`);
  return `${r.role}: ${parts.join(', ')}${problems.length ? `; ${problems.join('; ')}` : ''}`;
}
