// bench:scale's cost arithmetic as tables: requests and dollars per instance-month at list
// prices, the limits each kind of source is held to, and the idle window the cost is measured over.
import { describe, expect, it } from 'vitest';
import { limitFor, perInstanceMonth, requestCost, SECONDS_PER_MONTH, type RequestCount } from '../../scripts/bench/scale-prices.ts';
import { costWindowMs } from '../../scripts/bench/scale-evaluate.ts';

const month = SECONDS_PER_MONTH;

describe('requestCost', () => {
  it.each<[string, RequestCount, number]>([
    ['a month of 10 s polls on a standard bucket (issue 9: about $0.10)', { type: 'standard', kind: 'get', n: month / 10, bytes: 0 }, 0.10512],
    ['a month of 60 s report heartbeats on a standard bucket (about $0.22)', { type: 'standard', kind: 'put', n: month / 60, bytes: 0 }, 0.219],
    ['a month of 10 s polls on a directory bucket', { type: 'express', kind: 'get', n: month / 10, bytes: 0 }, 0.007884],
    ['a month of 30 min heartbeats on a directory bucket', { type: 'express', kind: 'put', n: month / 1800, bytes: 0 }, 0.0016498],
    ['Express bytes: 1 GiB downloaded costs $0.0006 on top of the request', { type: 'express', kind: 'get', n: 1, bytes: 1024 ** 3 }, 0.0006 + 0.00003 / 1000],
    ['Express bytes: 1 GiB uploaded costs $0.0032 on top of the request', { type: 'express', kind: 'put', n: 1, bytes: 1024 ** 3 }, 0.0032 + 0.00113 / 1000],
    ['standard buckets charge no bytes within the region', { type: 'standard', kind: 'get', n: 0, bytes: 1024 ** 3 }, 0],
    ['a LIST (failure markers, once a roll) on a standard bucket: the PUT tier', { type: 'standard', kind: 'list', n: 1000, bytes: 0 }, 0.005],
    ['CreateSession, at the Express PUT price', { type: 'express', kind: 'session', n: 1000, bytes: 0 }, 0.00113],
    ['a CDN: $0.01 per 10,000 HTTPS requests', { type: 'cdn', kind: 'get', n: 10_000, bytes: 0 }, 0.01],
  ])('%s', (_what, count, dollars) => {
    expect(requestCost(count)).toBeCloseTo(dollars, 7);
  });
});

describe('perInstanceMonth', () => {
  it('scales a window of a fleet to one instance and 730 hours', () => {
    // 100 instances, one hour: 36,000 polls (one per 10 s each) and 200 heartbeats (30 min).
    const out = perInstanceMonth([
      { type: 'express', kind: 'get', n: 36_000, bytes: 0 },
      { type: 'express', kind: 'put', n: 200, bytes: 0 },
    ], 100, 3600);
    expect(out.rows.map((r) => Math.round(r.requests))).toEqual([262_800, 1_460]);
    expect(out.requests).toBeCloseTo(264_260, 6);
    expect(out.dollars).toBeCloseTo(0.007884 + 0.0016498, 6);
  });
});

describe('limitFor', () => {
  it.each([
    ['standard', 'GET', 5_500], ['standard', 'PUT', 3_500], ['express', 'GET', 200_000], ['express', 'PUT', 100_000], ['cdn', 'GET', Infinity],
  ] as const)('%s %s: %d per second', (type, method, limit) => {
    expect(limitFor(type, method)).toBe(limit);
  });
});

describe('costWindowMs', () => {
  it.each([
    ['30 min heartbeat: an hour, two heartbeats', 10, 1800, 3_600_000],
    ['60 s heartbeat: still an hour', 10, 60, 3_600_000],
    ['a 45 min heartbeat: two of them, a whole number', 10, 2700, 5_400_000],
    ['a 7 min heartbeat: the first whole number of them past an hour', 10, 420, 3_780_000],
    ['slow polls: at least 60 of them', 120, 1800, 7_200_000],
  ])('%s', (_what, pollIntervalS, reportHeartbeatS, ms) => {
    expect(costWindowMs({ pollIntervalS, reportHeartbeatS })).toBe(ms);
  });
});
