// bench:scale's verdicts as tables: a source's busiest scope against the limit of its kind
// (per prefix for a standard bucket, per bucket for a directory bucket, none for a CDN), and
// whether a design meets the goals.
import { describe, expect, it } from 'vitest';
import type { SimResult, SourceSpec } from '../../scripts/bench/scale-fleet.ts';
import { RateCounter, scopesOf } from '../../scripts/bench/scale-rates.ts';
import { sourcePeaks, verdictOf, type LatencySummary } from '../../scripts/bench/scale-summary.ts';

const T0 = 1_000_000;

/** A run whose only requests are `perSecond` of each [source, method, key], in its first second. */
function runWith(sources: SourceSpec[], requests: Array<[string, 'GET' | 'PUT', string, number]>, reportKeyPeakPerS = 0): SimResult {
  const rates = new RateCounter(T0);
  for (const [source, method, key, n] of requests) {
    const s = scopesOf(source, method, key);
    for (const scope of [s.key, s.prefix, s.bucket]) rates.add(scope, T0, n);
  }
  return {
    input: { sources } as unknown as SimResult['input'], startMs: T0, rollAtMs: T0, endMs: T0 + 60_000, rates, reportKeyPeakPerS,
    idle: { windowS: 0, counts: [], byWhat: new Map() }, rollByWhat: new Map(),
    latency: { withDrain: [], withoutDrain: [], notApplied: 0, inRollout: 0 }, passes: 0,
  };
}

const standard: SourceSpec = { name: 'standard', type: 'standard', writable: true };
const express: SourceSpec = { name: 'express', type: 'express', writable: true };
const cdn: SourceSpec = { name: 'cdn', type: 'cdn', writable: false };
const CHANNEL = 'herd/roles/web/channel.json';
const REPORT = 'herd/roles/web/instances/i-1.json';

describe('sourcePeaks', () => {
  it.each<[string, SourceSpec, Array<[string, 'GET' | 'PUT', string, number]>, boolean, string]>([
    ['a standard bucket under 5,500 GET/s on the channel', standard, [['standard', 'GET', CHANNEL, 5_500]], true, 'herd/roles/web/'],
    ['a standard bucket over it on one key', standard, [['standard', 'GET', CHANNEL, 10_000]], false, 'herd/roles/web/'],
    ['a standard bucket over 3,500 PUT/s in the reports prefix, though each key is quiet', standard,
      [['standard', 'PUT', REPORT, 2_000], ['standard', 'PUT', 'herd/roles/web/instances/i-2.json', 2_000]], false, 'herd/roles/web/instances/'],
    ['a directory bucket at 10,000 GET/s on one key: its limit is the bucket\'s', express, [['express', 'GET', CHANNEL, 10_000]], true, 'the bucket'],
    ['a directory bucket over 100,000 PUT/s', express, [['express', 'PUT', REPORT, 100_001]], false, 'the bucket'],
  ])('%s', (_what, source, requests, within, scope) => {
    const [peaks] = sourcePeaks(runWith([source], requests));
    expect(peaks?.withinLimits).toBe(within);
    expect(peaks?.worst?.scope).toBe(scope);
  });

  it('a CDN has no limit that matters', () => {
    const [peaks] = sourcePeaks(runWith([cdn], [['cdn', 'GET', CHANNEL, 1_000_000]]));
    expect(peaks).toMatchObject({ withinLimits: true, worst: null });
  });

  it('reports a report key\'s own peak, kept per agent', () => {
    const [peaks] = sourcePeaks(runWith([standard], [['standard', 'PUT', REPORT, 1]], 2));
    expect(peaks?.put.key).toEqual({ scope: 'herd/roles/web/instances/<id>.json', perS: 2 });
  });
});

describe('verdictOf', () => {
  const latency = (p99: number | null, notApplied = 0): LatencySummary => ({
    withoutDrain: { p50: 1, p99, max: p99 }, withDrain: { p50: 16, p99, max: p99 }, notApplied, inRollout: 10,
  });
  const [within] = sourcePeaks(runWith([standard], []));
  const [over] = sourcePeaks(runWith([standard], [['standard', 'GET', CHANNEL, 9_000]]));
  const goals = { latencyS: 30, dollarsPerInstanceMonth: 0.03 };
  it.each([
    ['all met', [within], latency(29.9), 0.03, { limits: true, latency: true, cost: true }],
    ['a source over its limit', [within, over], latency(10), 0.01, { limits: false, latency: true, cost: true }],
    ['p99 past 30 s', [within], latency(30.1), 0.01, { limits: true, latency: false, cost: true }],
    ['an instance that never applied it', [within], latency(10, 1), 0.01, { limits: true, latency: false, cost: true }],
    ['a cent over', [within], latency(10), 0.0301, { limits: true, latency: true, cost: false }],
  ])('%s', (_what, peaks, l, dollars, verdict) => {
    expect(verdictOf({ peaks: peaks as NonNullable<typeof within>[], latency: l, dollars }, goals)).toEqual(verdict);
  });
});
