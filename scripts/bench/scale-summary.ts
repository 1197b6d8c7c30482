// From one simulated run to the figures bench:scale prints and decides by: peak request rates
// per key, prefix and bucket against each source's documented limit, requests and dollars per
// instance-month, change latency, and whether the goals hold. Pure.
import { LIMITS, limitFor, perInstanceMonth, type MonthRow } from './scale-prices.ts';
import type { SimResult, SourceSpec } from './scale-fleet.ts';
import { busiest, latencySummary } from './scale-rates.ts';

export interface Peak { scope: string; perS: number }

export interface SourcePeaks {
  source: SourceSpec;
  get: { key: Peak; prefix: Peak; bucket: Peak };
  put: { key: Peak; prefix: Peak; bucket: Peak };
  /** The busiest scope the source's limit applies to, against that limit; null when no limit applies. */
  worst: { method: 'GET' | 'PUT'; scope: string; perS: number; limit: number } | null;
  withinLimits: boolean;
}

/** Pure: each source's busiest key, prefix and bucket per method over the measured window, against its limit. */
export function sourcePeaks(result: SimResult): SourcePeaks[] {
  const from = result.startMs;
  const to = result.endMs;
  return result.input.sources.map((source) => {
    const level = (method: 'GET' | 'PUT') => ({
      key: pick(busiest(result.rates, source.name, method, 'key', from, to)),
      prefix: pick(busiest(result.rates, source.name, method, 'prefix', from, to)),
      bucket: pick(busiest(result.rates, source.name, method, 'bucket', from, to)),
    });
    const get = level('GET');
    const put = level('PUT');
    // Each report key has one writer: its own peak is the agent's, counted apart.
    if (result.reportKeyPeakPerS > put.key.perS && put.prefix.scope.endsWith('/instances/')) put.key = { scope: `${put.prefix.scope}<id>.json`, perS: result.reportKeyPeakPerS };
    const limit = LIMITS[source.type];
    let worst: SourcePeaks['worst'] = null;
    if (limit.scope !== null) {
      for (const [method, peaks] of [['GET', get], ['PUT', put]] as const) {
        const p = limit.scope === 'prefix' ? peaks.prefix : peaks.bucket;
        const max = limitFor(source.type, method);
        const scope = limit.scope === 'bucket' ? 'the bucket' : p.perS === 0 ? 'no requests' : p.scope;
        if (!worst || p.perS / max > worst.perS / worst.limit) worst = { method, scope, perS: p.perS, limit: max };
      }
    }
    return { source, get, put, worst, withinLimits: worst === null || worst.perS <= worst.limit };
  });
}

function pick(b: { scope: string; perS: number }): Peak {
  return { scope: b.scope, perS: b.perS };
}

export interface CostSummary {
  rows: MonthRow[];
  requests: number;
  dollars: number;
}

/** Pure: the idle window's counts as requests and dollars per instance-month. */
export function idleCost(result: SimResult): CostSummary {
  return perInstanceMonth(result.idle.counts, result.input.instances, result.idle.windowS);
}

export interface LatencySummary {
  withoutDrain: { p50: number | null; p99: number | null; max: number | null };
  withDrain: { p50: number | null; p99: number | null; max: number | null };
  notApplied: number;
  inRollout: number;
}

/** Pure: the change latency of the run's roll, in seconds. */
export function rollLatency(result: SimResult): LatencySummary {
  const s = (ms: number[]) => {
    const x = latencySummary(ms);
    const sec = (v: number | null) => (v === null ? null : v / 1000);
    return { p50: sec(x.p50), p99: sec(x.p99), max: sec(x.max) };
  };
  return { withoutDrain: s(result.latency.withoutDrain), withDrain: s(result.latency.withDrain), notApplied: result.latency.notApplied, inRollout: result.latency.inRollout };
}

export interface Verdict { limits: boolean; latency: boolean; cost: boolean }

/** Pure: whether a design meets the goals: every source within its limits, p99 latency (drain excluded) and cost within bounds, every instance applied. */
export function verdictOf(input: { peaks: SourcePeaks[]; latency: LatencySummary; dollars: number }, goals: { latencyS: number; dollarsPerInstanceMonth: number }): Verdict {
  const p99 = input.latency.withoutDrain.p99;
  return {
    limits: input.peaks.every((p) => p.withinLimits),
    latency: p99 !== null && p99 <= goals.latencyS && input.latency.notApplied === 0,
    cost: input.dollars <= goals.dollarsPerInstanceMonth,
  };
}
