// bench:scale's check against real agents: the comparison as a table, and the model's counts
// for the settings bench:fleet measured 20 real agents with (poll 5 s, heartbeat 60 s).
import { describe, expect, it } from 'vitest';
import { compareWithFleet, modelPerAgentPerMinute } from '../../scripts/bench/scale-check.ts';

const real = { total: 13.3, channel304: 12.3, channel200: 0, reportPut: 1, getsElse: 0, writesElse: 0 };

describe('compareWithFleet', () => {
  it.each([
    ['the same counts', { total: 13.3, channel: 12.3, reportPut: 1, other: 0 }, [true, true, true]],
    ['within 10%', { total: 12.0, channel: 11.1, reportPut: 1.09, other: 0 }, [true, true, true]],
    ['polls 11% short', { total: 11.8, channel: 10.9, reportPut: 1, other: 0 }, [false, false, true]],
    ['a report write a minute too many', { total: 14.3, channel: 12.3, reportPut: 2, other: 0 }, [true, true, false]],
  ])('%s', (_what, model, oks) => {
    expect(compareWithFleet(real, model).map((r) => r.ok)).toEqual(oks);
  });

  it('allows an absolute tenth a minute on counts under one a minute', () => {
    const rare = { ...real, reportPut: 0.03 };
    expect(compareWithFleet(rare, { total: 13.3, channel: 12.3, reportPut: 0.1, other: 0 })[2]?.ok).toBe(true);
    expect(compareWithFleet(rare, { total: 13.3, channel: 12.3, reportPut: 0.2, other: 0 })[2]?.ok).toBe(false);
  });
});

describe('modelPerAgentPerMinute', () => {
  it('gives 12 polls and 1 report a minute for poll 5 s and heartbeat 60 s, as 20 real agents sent (12.3 and 1.0)', () => {
    const m = modelPerAgentPerMinute({ agents: 20, pollS: 5, heartbeatS: 60, drainS: 1, idleS: 60 });
    expect(m.channel).toBeGreaterThan(11.8);
    expect(m.channel).toBeLessThan(12.2);
    expect(m.reportPut).toBe(1);
    expect(m.other).toBe(0);
    expect(compareWithFleet(real, m).every((r) => r.ok)).toBe(true);
  });
});
