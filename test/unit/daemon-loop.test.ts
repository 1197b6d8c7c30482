// The reconcile loop with fake timers: polls at the interval, backs off after failures,
// wakes early for a nudge or a time the pass named, never interleaves passes, stops cleanly.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { clockWith } from '../../agent/clock.ts';
import { afterPass, beginPass, FIRST_SCHEDULE, ReconcileLoop, type LoopSchedule, type PassOutcome } from '../../agent/daemon/loop.ts';
import { silentLogger } from '../../agent/log.ts';
import type { Step } from '../../agent/daemon/decide.ts';
import { passOutcome } from '../../agent/daemon/outcome.ts';

type Pass = { at: number; poll: boolean };

function loopWith(outcomes: (n: number) => PassOutcome | Promise<PassOutcome>) {
  const passes: Pass[] = [];
  const loop = new ReconcileLoop({
    pass: async (poll) => { passes.push({ at: Date.now(), poll }); return outcomes(passes.length); },
    pollDelayMs: () => 10_000,
    backoffMs: (failures) => 1_000 * 2 ** (failures - 1),
    clock: clockWith(() => 0.5), log: silentLogger(),
  });
  return { loop, passes };
}

describe('ReconcileLoop', () => {
  beforeEach(() => { vi.useFakeTimers({ now: 0 }); });
  afterEach(() => { vi.useRealTimers(); });

  it('polls once per interval while settled', async () => {
    const { loop, passes } = loopWith(() => ({ kind: 'settled', until: null }));
    loop.start();
    await vi.advanceTimersByTimeAsync(35_000);
    expect(passes.map((p) => p.at)).toEqual([0, 10_000, 20_000, 30_000]);
    expect(passes.every((p) => p.poll)).toBe(true);
    await loop.stop();
  });

  it('follows progress at once without reading the channel again, then settles', async () => {
    const { loop, passes } = loopWith((n) => (n <= 2 ? { kind: 'progress' } : { kind: 'settled', until: null }));
    loop.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(passes).toEqual([{ at: 0, poll: true }, { at: 0, poll: false }, { at: 0, poll: false }]);
    await loop.stop();
  });

  it('backs off after failures in a row, and resets once settled', async () => {
    const { loop, passes } = loopWith((n) => (n <= 3 ? { kind: 'failed' } : { kind: 'settled', until: null }));
    loop.start();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(passes.map((p) => p.at)).toEqual([0, 1_000, 3_000, 7_000, 17_000]);
    await loop.stop();
  });

  it('wakes at the time a pass named (a wave falling due) without a poll', async () => {
    const { loop, passes } = loopWith((n) => (n === 1 ? { kind: 'settled', until: 4_000 } : { kind: 'settled', until: null }));
    loop.start();
    await vi.advanceTimersByTimeAsync(12_000);
    expect(passes).toEqual([{ at: 0, poll: true }, { at: 4_000, poll: false }, { at: 10_000, poll: true }]);
    await loop.stop();
  });

  it('a nudge runs a pass now and keeps the poll schedule', async () => {
    const { loop, passes } = loopWith(() => ({ kind: 'settled', until: null }));
    loop.start();
    await vi.advanceTimersByTimeAsync(2_500);
    loop.nudge();
    await vi.advanceTimersByTimeAsync(8_000);
    expect(passes).toEqual([{ at: 0, poll: true }, { at: 2_500, poll: false }, { at: 10_000, poll: true }]);
    await loop.stop();
  });

  it('exclusive work waits for the pass in flight; stop ends the sleep and the loop', async () => {
    let release = () => {};
    const order: string[] = [];
    const { loop } = loopWith(async (n) => {
      if (n === 1) await new Promise<void>((r) => { release = r; });
      order.push(`pass ${n}`);
      return { kind: 'settled', until: null };
    });
    loop.start();
    await vi.advanceTimersByTimeAsync(0);
    const other = loop.exclusive(async () => { order.push('reconfigure'); });
    release();
    await other;
    expect(order).toEqual(['pass 1', 'reconfigure']);
    const stopped = loop.stop();
    await vi.advanceTimersByTimeAsync(0);
    await stopped;
    expect(loop.stopping.aborted).toBe(true);
  });
});

// The loop's timing as pure functions (the fleet simulation, npm run bench:scale, uses the same).
describe('beginPass and afterPass', () => {
  const at = (nextPollAt: number, failures = 0, progressInARow = 0): LoopSchedule => ({ nextPollAt, failures, progressInARow });
  const backoff = (failures: number) => 1_000 * failures;

  it.each([
    ['the first pass polls', FIRST_SCHEDULE, 0, true, 10_000],
    ['a pass before the poll is due does not', at(10_000), 4_000, false, 10_000],
    ['a pass when it is due polls and sets the next from now', at(10_000), 10_500, true, 20_500],
  ])('%s', (_what, schedule, now, poll, nextPollAt) => {
    expect(beginPass(schedule, now, () => 10_000)).toEqual({ poll, schedule: { ...schedule, nextPollAt } });
  });

  it.each<[string, LoopSchedule, PassOutcome, number | null, LoopSchedule]>([
    ['settled: sleep until the next poll, failures reset', at(10_000, 2), { kind: 'settled', until: null }, 10_000, at(10_000)],
    ['settled with a sooner time named: wake then', at(10_000), { kind: 'settled', until: 4_000 }, 4_000, at(10_000)],
    ['settled with a later time named: the poll comes first', at(10_000), { kind: 'settled', until: 15_000 }, 10_000, at(10_000)],
    ['progress: at once, counted', at(10_000, 1, 3), { kind: 'progress' }, null, at(10_000, 1, 4)],
    ['the 20th progress in a row: wait for the poll', at(10_000, 1, 19), { kind: 'progress' }, 10_000, at(10_000, 1, 0)],
    ['failed: back off from now, and the poll moves with it', at(10_000, 2, 5), { kind: 'failed' }, 5_000, at(5_000, 3, 0)],
  ])('%s', (_what, schedule, outcome, wakeAt, next) => {
    expect(afterPass(schedule, outcome, 2_000, backoff)).toEqual({ wakeAt, schedule: next });
  });
});

describe('passOutcome', () => {
  const none = (until: number | null): Step => ({ kind: 'none', desired: 'v1', reason: 'r', until });
  const fetch: Step = { kind: 'fetch', desired: 'v2' };
  it.each<[string, Step, 'progress' | 'settled' | 'failed', 'found' | 'unreachable', PassOutcome]>([
    ['a step done: look again now', fetch, 'progress', 'found', { kind: 'progress' }],
    ['a step failed: back off', fetch, 'failed', 'found', { kind: 'failed' }],
    ['nothing to do on an unreadable channel: back off', none(null), 'settled', 'unreachable', { kind: 'failed' }],
    ['nothing to do: the next poll', none(null), 'settled', 'found', { kind: 'settled', until: null }],
    ['waiting for a wave due at 60 s: woken within the 10 s poll interval after it', none(60_000), 'settled', 'found', { kind: 'settled', until: 62_500 }],
  ])('%s', (_what, step, acted, channel, outcome) => {
    expect(passOutcome({ step, acted, channel, pollIntervalS: 10, jitter: () => 0.25 })).toEqual(outcome);
  });
});
