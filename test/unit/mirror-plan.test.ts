// herd mirror's decisions as tables: which releases a pass copies or checks, and when a
// channel follows (last, forward only, never naming a release it refused).
import { describe, expect, it } from 'vitest';
import { decideChannel, planReleases, summarizeRole, type ReleaseState, type RoleResult } from '../../agent/commands/mirror-plan.ts';
import type { Channel } from '../../agent/store/schemas.ts';

const channel = (generation: number, release = 'v2', previous: string | null = 'v1'): Channel => ({
  schema: 'herd/channel@1', role: 'web', release, previous,
  rollout: { percent: 100, waves: 1, waveIntervalS: 0, startedAt: '2026-11-22T11:00:00.000Z' },
  paused: false, generation, updatedAt: '2026-11-22T11:00:00.000Z', updatedBy: 'alice@laptop',
});

describe('planReleases', () => {
  it.each([
    ['an empty mirror copies everything', ['v2', 'v1'], [], { copy: ['v1', 'v2'], check: [] }],
    ['a full mirror copies nothing and checks all', ['v1', 'v2'], ['v2', 'v1'], { copy: [], check: ['v1', 'v2'] }],
    ['a partial mirror copies the rest', ['v1', 'v2', 'v3'], ['v1'], { copy: ['v2', 'v3'], check: ['v1'] }],
    ['releases only at the mirror are left alone', ['v1'], ['v0', 'v1'], { copy: [], check: ['v1'] }],
    ['an empty source plans nothing', [], ['v1'], { copy: [], check: [] }],
  ])('%s', (_what, source, dest, want) => {
    expect(planReleases(source, dest)).toEqual(want);
  });
});

describe('decideChannel', () => {
  const ok: Array<[string, ReleaseState]> = [['v1', 'ok'], ['v2', 'ok']];
  it.each([
    ['no source channel', null, null, ok, { action: 'skip', why: 'no channel at the source' }],
    ['absent at the mirror, releases there', channel(3), null, ok, { action: 'copy', generation: 3 }],
    ['older at the mirror', channel(4), channel(3), ok, { action: 'copy', generation: 4 }],
    ['same generation', channel(4), channel(4), ok, { action: 'skip', why: 'generation 4 already there' }],
    ['same generation re-signed to expire later (herd resign)', { ...channel(4), expiresAt: '2026-12-01T00:00:00.000Z' }, { ...channel(4), expiresAt: '2026-11-30T00:00:00.000Z' }, ok, { action: 'copy', generation: 4 }],
    ['same generation, the mirror\'s expiring later: not moved back', { ...channel(4), expiresAt: '2026-11-30T00:00:00.000Z' }, { ...channel(4), expiresAt: '2026-12-01T00:00:00.000Z' }, ok, { action: 'skip', why: 'generation 4 already there' }],
    ['same generation, signed at the source only', { ...channel(4), expiresAt: '2026-12-01T00:00:00.000Z' }, channel(4), ok, { action: 'copy', generation: 4 }],
    ['mirror ahead: never moved back', channel(4), channel(6), ok, { action: 'skip', why: 'the mirror is ahead (generation 6 > 4), not moved back' }],
    ['release refused', channel(3), null, [['v1', 'ok'], ['v2', 'refused']], { action: 'refuse', why: 'generation 3 names release v2, which was refused' }],
    ['previous failed to copy', channel(3), null, [['v1', 'failed'], ['v2', 'ok']], { action: 'refuse', why: 'generation 3 names release v1, which could not be copied' }],
    ['release not published', channel(3, 'v9', null), null, ok, { action: 'refuse', why: 'generation 3 names release v9, which is not published at the source' }],
    ['no previous: only the release matters', channel(1, 'v2', null), null, [['v2', 'ok']], { action: 'copy', generation: 1 }],
  ] as const)('%s', (_what, source, dest, states, want) => {
    expect(decideChannel(source, dest, new Map(states as Array<[string, ReleaseState]>))).toEqual(want);
  });
});

describe('summarizeRole', () => {
  it('says what was copied, skipped and refused in one line', () => {
    const r: RoleResult = {
      role: 'web', releasesCopied: ['v1', 'v2'], releasesPresent: 1, blobsCopied: 3, bytesCopied: 3 * 1024 * 1024, blobsSkipped: 2,
      channel: { action: 'refuse', why: 'generation 3 names release v3, which was refused' },
      problems: [{ kind: 'refused', role: 'web', release: 'v3', why: 'blob digest mismatch' }],
    };
    expect(summarizeRole(r)).toBe('web: 2 releases copied (1 already there), 3 blobs (3.0 MiB) copied, 2 skipped, channel not copied; refused v3 (blob digest mismatch)');
  });
});
