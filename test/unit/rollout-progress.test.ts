// Tables for the rollout's halt (failure markers against maxFailures) and the progress that
// `herd roll --wait` decides on.
import { describe, expect, it } from 'vitest';
import { describeHalt, haltOf } from '../../agent/rollout/halt.ts';
import { slotOf } from '../../agent/rollout/decide.ts';
import { converged, describeProgress, rolloutProgress, stepOf } from '../../agent/rollout/progress.ts';
import type { Channel, FailureMarker, InstanceReport } from '../../agent/store/schemas.ts';

const NOW = new Date('2026-12-01T12:00:00.000Z');

function channel(over: Omit<Partial<Channel>, 'rollout'> & { rollout?: Partial<Channel['rollout']> } = {}): Channel {
  return {
    schema: 'herd/channel@1', role: 'web', release: 'v2', previous: 'v1', paused: false, generation: 7,
    updatedAt: NOW.toISOString(), updatedBy: 'ops',
    ...over,
    rollout: { percent: 100, waves: 1, waveIntervalS: 0, startedAt: '2026-12-01T11:59:00.000Z', ...over.rollout },
  };
}

function marker(instanceId: string, over: Partial<FailureMarker> = {}): FailureMarker {
  return { schema: 'herd/failure@1', instanceId, release: 'v2', generation: 7, reason: 'health gate: 503', at: '2026-12-01T11:59:30.000Z', ...over };
}

function report(instanceId: string, over: Partial<InstanceReport> = {}): InstanceReport {
  return {
    schema: 'herd/instance@1', instanceId, role: 'web', az: 'a', region: 'r', release: 'v1', desired: 'v2', state: 'running',
    healthy: true, lastError: null, failedReleases: [], agentVersion: '1', updatedAt: '2026-12-01T11:59:50.000Z', ...over,
  };
}

/** Instance ids whose slot is below / at or above `percent`. */
function idsBySlot(test: (slot: number) => boolean, n: number): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < n; i++) if (test(slotOf(`i-${i}`))) ids.push(`i-${i}`);
  return ids;
}

describe('haltOf', () => {
  it.each([
    ['no markers', [], undefined, false, 0],
    ['one marker, default max 1', [marker('i-1')], undefined, true, 1],
    ['one marker, max 2', [marker('i-1')], 2, false, 1],
    ['two instances, max 2', [marker('i-1'), marker('i-2')], 2, true, 2],
    ['the same instance twice counts once', [marker('i-1'), marker('i-1', { at: '2026-12-01T11:59:40.000Z' })], 2, false, 1],
    ['another generation does not count', [marker('i-1', { generation: 6 })], undefined, false, 0],
    ['another release does not count', [marker('i-1', { release: 'v3' })], undefined, false, 0],
  ] as const)('%s', (_name, markers, maxFailures, halted, failures) => {
    const h = haltOf(channel({ rollout: maxFailures ? { maxFailures } : {} }), [...markers]);
    expect({ halted: h.halted, failures: h.failures.length }).toEqual({ halted, failures });
  });

  it('names the release, the generation and every failed instance with its reason', () => {
    const c = channel();
    expect(describeHalt(c, haltOf(c, [marker('i-1')]))).toBe(
      'rollout of v2 (generation 7) halted after 1 failure (max failures 1): i-1 (health gate: 503); herd roll or herd rollback starts a new rollout',
    );
  });
});

describe('stepOf', () => {
  const [inside] = idsBySlot((s) => s < 50, 1) as [string];
  const [outside] = idsBySlot((s) => s >= 50, 1) as [string];
  const half = channel({ rollout: { percent: 50 } });
  it.each([
    ['outside the percent', outside, {}, 'outside'],
    ['on the release and healthy', inside, { release: 'v2' }, 'done'],
    ['on the release, unhealthy', inside, { release: 'v2', healthy: false }, 'left'],
    ['draining the old one', inside, { state: 'draining' }, 'draining'],
    ['fetching', inside, { state: 'fetching' }, 'applying'],
    ['starting the new one', inside, { state: 'starting', release: 'v2' }, 'applying'],
    ['still on the old one', inside, {}, 'left'],
  ] as const)('%s', (_name, id, over, step) => {
    expect(stepOf(half, report(id, over), new Set(), NOW)).toBe(step);
  });

  it('a later wave is "wave-later" until it is due, then "left"', () => {
    const waved = channel({ rollout: { waves: 2, waveIntervalS: 600 } });
    const [late] = idsBySlot((s) => s >= 50, 1) as [string];
    expect(stepOf(waved, report(late), new Set(), NOW)).toBe('wave-later');
    expect(stepOf(waved, report(late), new Set(), new Date('2026-12-01T12:10:00.000Z'))).toBe('left');
  });
});

describe('rolloutProgress', () => {
  const ids = idsBySlot(() => true, 3);
  const run = (reports: InstanceReport[], markers: FailureMarker[] = [], c = channel()) => rolloutProgress({ channel: c, reports, markers, now: NOW, staleAfterS: 180 });

  it('is done when every fresh instance in the rollout runs the release healthy', () => {
    expect(run(ids.map((id) => report(id, { release: 'v2' }))).outcome).toEqual({ kind: 'done' });
  });

  it('waits while one is left, and while nothing has reported', () => {
    expect(run([report(ids[0] as string, { release: 'v2' }), report(ids[1] as string)]).outcome.kind).toBe('in-progress');
    expect(run([]).outcome.kind).toBe('in-progress');
  });

  it('does not wait for a stale instance, and says how many there are', () => {
    const p = run([report(ids[0] as string, { release: 'v2' }), report(ids[1] as string, { updatedAt: '2026-12-01T11:00:00.000Z' })]);
    expect({ kind: p.outcome.kind, stale: p.stale }).toEqual({ kind: 'done', stale: 1 });
  });

  it('does not wait for an instance whose agent stopped (terminated, scaled in): its last report says so, long before it is stale', () => {
    const p = run([report(ids[0] as string, { release: 'v2' }), report(ids[1] as string, { state: 'stopped', healthy: false })]);
    expect({ kind: p.outcome.kind, stale: p.stale }).toEqual({ kind: 'done', stale: 1 });
  });

  it('fails on a marker below the maximum, halts at it', () => {
    const reports = ids.map((id) => report(id));
    expect(run(reports, [marker(ids[0] as string)], channel({ rollout: { maxFailures: 2 } })).outcome.kind).toBe('failed');
    expect(run(reports, [marker(ids[0] as string)]).outcome.kind).toBe('halted');
  });

  it('reports a paused rollout as paused, not as failed', () => {
    expect(run(ids.map((id) => report(id)), [], channel({ paused: true })).outcome).toEqual({ kind: 'paused' });
  });

  it('prints counts, the next wave and the share outside', () => {
    const c = channel({ rollout: { percent: 100, waves: 2, waveIntervalS: 600 } });
    const early = idsBySlot((s) => s < 50, 2);
    const late = idsBySlot((s) => s >= 50, 1);
    const p = run([report(early[0] as string, { release: 'v2' }), report(early[1] as string, { state: 'draining' }), report(late[0] as string)], [], c);
    expect(describeProgress(c, p)).toBe('web -> v2: 1/3 on v2 and healthy, 1 draining, 0 applying, 0 failed, 1 left, next wave at 2026-12-01T12:09:00.000Z');
  });
});

describe('converged', () => {
  const ids = idsBySlot(() => true, 2);
  const judge = (reports: InstanceReport[], markers: FailureMarker[] = []) => converged({ channel: channel(), reports, markers, now: NOW, staleAfterS: 180 });
  it.each([
    ['every instance on the release', [report(ids[0] as string, { release: 'v2' }), report(ids[1] as string, { release: 'v2', state: 'starting' })], [], true],
    ['one still on the old release', [report(ids[0] as string, { release: 'v2' }), report(ids[1] as string, { release: 'v1' })], [], false],
    ['one booting, running nothing yet (its report behind /status)', [report(ids[0] as string, { release: null, state: 'booting' })], [], true],
    ['no reports at all', [], [], true],
    ['a stale report on the old release', [report(ids[0] as string, { release: 'v1', updatedAt: '2026-12-01T10:00:00.000Z' })], [], true],
    ['an instance failed it', [report(ids[0] as string, { release: 'v1' })], [marker(ids[0] as string)], false],
  ] as const)('%s', (_name, reports, markers, want) => {
    expect(judge([...reports], [...markers])).toBe(want);
  });
});
