// One candidate design, simulated twice: the whole fleet through a roll (peak rates, which
// include the polls of the agents that have not seen it yet, and change latency), and a small fleet idle long enough for its heartbeats and
// credential renewals to repeat a whole number of times (requests and dollars per
// instance-month, which do not depend on the fleet's size). Returns plain data, so a worker
// thread can run it.
import type { Candidate } from './scale-configs.ts';
import { simulate, type SimInput } from './scale-fleet.ts';
import { idleCost, rollLatency, sourcePeaks, type CostSummary, type LatencySummary, type SourcePeaks } from './scale-summary.ts';

/** What the modelled I/O takes (ms, uniform ranges), and the agents' drain: a 10 MB bundle from a bucket in the region, an app up in 1-3 s. */
export const TIMINGS: SimInput['timings'] = { fetchMs: [1_000, 3_000], stopMs: [200, 1_000], startMs: [1_000, 3_000] };
export const DRAIN_S = 15;
export const CODE_BYTES = 10 * 1024 * 1024;

export interface Evaluation {
  candidate: Candidate;
  instances: number;
  drainS: number;
  roll: { waves: number; waveIntervalS: number };
  peaks: SourcePeaks[];
  cost: CostSummary;
  latency: LatencySummary;
  /** Requests per instance in the roll, by what they were for. */
  perRoll: Record<string, number>;
  passes: number;
  ms: number;
}

export function evaluate(input: { candidate: Candidate; instances: number; seed: number; drainS?: number; waves?: number; waveIntervalS?: number }): Evaluation {
  const t0 = performance.now();
  const { candidate } = input;
  const settings = { pollIntervalS: candidate.pollIntervalS, reportHeartbeatS: candidate.reportHeartbeatS, drainS: input.drainS ?? DRAIN_S };
  const base = { sources: candidate.sources, settings, timings: TIMINGS, codeBytes: CODE_BYTES };
  const fleet = simulate({ ...base, instances: input.instances, seed: input.seed, idleMs: 0, roll: { percent: 100, waves: input.waves ?? 1, waveIntervalS: input.waveIntervalS ?? 0 } });
  const cost = simulate({ ...base, instances: 100, seed: input.seed + 1, idleMs: costWindowMs(candidate), roll: null });
  const perRoll: Record<string, number> = {};
  for (const [what, n] of fleet.rollByWhat) perRoll[what] = n / input.instances;
  return {
    candidate, instances: input.instances, drainS: settings.drainS, roll: { waves: input.waves ?? 1, waveIntervalS: input.waveIntervalS ?? 0 }, peaks: sourcePeaks(fleet), cost: idleCost(cost), latency: rollLatency(fleet),
    perRoll, passes: fleet.passes + cost.passes, ms: performance.now() - t0,
  };
}

/** Pure: an idle window that holds a whole number of heartbeats, at least two, and at least an hour and 60 polls. */
export function costWindowMs(c: Pick<Candidate, 'pollIntervalS' | 'reportHeartbeatS'>): number {
  const heartbeatMs = c.reportHeartbeatS * 1000;
  const least = Math.max(2 * heartbeatMs, 3_600_000, 60 * c.pollIntervalS * 1000);
  return Math.ceil(least / heartbeatMs) * heartbeatMs;
}
