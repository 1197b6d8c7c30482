// The fleet simulation of bench:scale on small fleets: idle agents poll and heartbeat at the
// rates their settings give; a roll reaches every agent within the bounds its timing allows;
// waves hold the later agents back (the agents' own decideRelease at work); a directory bucket
// costs a CreateSession every few minutes; a source that is down sends everything to the next;
// and the same seed gives the same run. Also the event queue's order.
import { describe, expect, it } from 'vitest';
import { EventQueue, mulberry32 } from '../../scripts/bench/scale-events.ts';
import { simulate, type SimInput, type SourceSpec } from '../../scripts/bench/scale-fleet.ts';
import { sourcePeaks } from '../../scripts/bench/scale-summary.ts';

const standard: SourceSpec = { name: 'standard', type: 'standard', writable: true };
const express: SourceSpec = { name: 'express', type: 'express', writable: true };
const timings: SimInput['timings'] = { fetchMs: [1_000, 2_000], stopMs: [100, 200], startMs: [1_000, 2_000] };

function run(over: Partial<SimInput>) {
  return simulate({
    instances: 100, sources: [standard], settings: { pollIntervalS: 10, reportHeartbeatS: 60, drainS: 15 },
    timings, codeBytes: 1_000_000, seed: 3, idleMs: 0, roll: null, ...over,
  });
}

describe('simulate, idle', () => {
  it('polls about once per interval and writes a report exactly once per heartbeat, nothing else', () => {
    const r = run({ idleMs: 30 * 60_000 });
    const perAgentPerMin = (what: string) => (r.idle.byWhat.get(what) ?? 0) / 100 / 30;
    expect(perAgentPerMin('channel 304')).toBeGreaterThan(6 * 0.98);
    expect(perAgentPerMin('channel 304')).toBeLessThan(6 * 1.02);
    expect(perAgentPerMin('report')).toBe(1);
    expect([...r.idle.byWhat.keys()].sort()).toEqual(['channel 304', 'report']);
  });

  it('renews a directory bucket\'s CreateSession credential every few minutes', () => {
    const r = run({ sources: [express, standard], idleMs: 60 * 60_000 });
    const perAgentPerHour = (r.idle.byWhat.get('CreateSession') ?? 0) / 100;
    expect(perAgentPerHour).toBeGreaterThanOrEqual(12);
    expect(perAgentPerHour).toBeLessThanOrEqual(16);
    expect(r.idle.counts.map((c) => `${c.type} ${c.kind}`).sort()).toEqual(['express get', 'express put', 'express session']);
  });

  it('reads and reports through the next source while the first is down', () => {
    const r = run({ sources: [{ ...express, down: [[0, 600_000]] }, standard], idleMs: 600_000 });
    expect(r.idle.counts.map((c) => `${c.type} ${c.kind}`).sort()).toEqual(['standard get', 'standard put']);
  });

  it('is the same run for the same seed, and another for another', () => {
    const a = run({ idleMs: 60_000 });
    const b = run({ idleMs: 60_000 });
    const c = run({ idleMs: 60_000, seed: 4 });
    expect(b.idle.byWhat).toEqual(a.idle.byWhat);
    expect(b.passes).toBe(a.passes);
    expect(c.passes).not.toBe(a.passes);
  });
});

describe('simulate, a roll', () => {
  it('reaches every agent: no sooner than drain + fetch + start, no later than a poll and its jitter more', () => {
    const r = run({ roll: { percent: 100, waves: 1, waveIntervalS: 0 } });
    expect(r.latency).toMatchObject({ inRollout: 100, notApplied: 0 });
    const lo = 15_000 + 1_000 + 100 + 1_000;
    const hi = 12_000 + 15_000 + 2_000 + 200 + 2_000;
    expect(Math.min(...r.latency.withDrain)).toBeGreaterThanOrEqual(lo);
    expect(Math.max(...r.latency.withDrain)).toBeLessThanOrEqual(hi);
    expect(r.latency.withoutDrain.map((v, i) => (r.latency.withDrain[i] as number) - v)).toEqual(r.latency.withDrain.map(() => 15_000));
    // Each agent: the changed channel once, its failure markers listed once, the manifest and the new code blob once (the config blob is cached).
    expect(Object.fromEntries(['channel 200', 'failure markers', 'manifest', 'blob'].map((w) => [w, r.rollByWhat.get(w)])))
      .toEqual({ 'channel 200': 100, 'failure markers': 100, manifest: 100, blob: 100 });
  });

  it('holds the second wave back until it is due', () => {
    const r = run({ roll: { percent: 100, waves: 2, waveIntervalS: 60 } });
    expect(r.latency.notApplied).toBe(0);
    const late = r.latency.withDrain.filter((ms) => ms >= 60_000).length;
    // Slots split about evenly: half the fleet waits for wave 1, due 60 s after the roll.
    expect(late).toBeGreaterThan(30);
    expect(late).toBeLessThan(70);
  });

  it('spreads a wave over a poll interval: its agents do not all fetch in the second it falls due', () => {
    const r = run({ instances: 1_000, roll: { percent: 100, waves: 2, waveIntervalS: 60 } });
    const [peak] = sourcePeaks(r);
    // About 500 agents per wave, spread over 10 s: some 50-100 a second, never the whole wave at once.
    expect(peak?.get.key.perS).toBeLessThan(200);
    expect(r.latency.notApplied).toBe(0);
  });

  it('takes only the agents whose slot is below the percent', () => {
    const r = run({ roll: { percent: 10, waves: 1, waveIntervalS: 0 } });
    expect(r.latency.inRollout).toBeLessThan(25);
    expect(r.latency.notApplied).toBe(0);
    expect(r.rollByWhat.get('blob')).toBe(r.latency.inRollout);
  });
});

describe('EventQueue', () => {
  it('gives events earliest first, and in the order pushed at the same time', () => {
    const q = new EventQueue();
    const random = mulberry32(9);
    const pushed = Array.from({ length: 2_000 }, (_, i) => ({ at: Math.floor(random() * 50), agent: i }));
    for (const e of pushed) q.push(e.at, e.agent, 0, 0);
    const popped = [];
    for (let e = q.pop(); e; e = q.pop()) popped.push({ at: e.at, agent: e.agent });
    expect(popped).toEqual([...pushed].sort((a, b) => a.at - b.at || a.agent - b.agent));
  });
});
