// The model against the real thing: npm run bench:fleet --record FILE keeps what 20 real
// agents sent to a counting proxy while idle (requests per agent per minute, by kind); the
// same settings simulated must give the same counts within 10%. Pure apart from simulate().
import { simulate } from './scale-fleet.ts';
import { CODE_BYTES, TIMINGS } from './scale-evaluate.ts';

/** What bench-fleet --record writes. */
export interface FleetRecord {
  recordedAt: string;
  settings: { agents: number; pollS: number; heartbeatS: number; drainS: number; idleS: number };
  /** Means over agents, per minute of the idle window. */
  idlePerAgentPerMinute: { total: number; channel304: number; channel200: number; reportPut: number; getsElse: number; writesElse: number };
  /** Per agent, during each roll: report writes and all requests. */
  rollPerAgent?: Array<{ release: string; reportPut: number; total: number }>;
}

/**
 * What the local fleet's apply takes (bench:fleet: read -> healthy 1.6-2.9 s with a 1 s drain,
 * a small bundle from a local store, examples/hello-app): for comparing a roll's report writes.
 */
export const LOCAL_FLEET_TIMINGS = { fetchMs: [100, 400], stopMs: [100, 300], startMs: [300, 1_200] } as const;

/** The report writes and requests per agent the model gives for one roll at the recorded settings and the local fleet's timings. */
export function modelRollPerAgent(settings: FleetRecord['settings'], seed = 7): { reportPut: number; total: number } {
  const r = simulate({
    instances: settings.agents, sources: [{ name: 'standard', type: 'standard', writable: true }],
    settings: { pollIntervalS: settings.pollS, reportHeartbeatS: settings.heartbeatS, drainS: settings.drainS },
    timings: LOCAL_FLEET_TIMINGS, codeBytes: CODE_BYTES, seed, idleMs: 0, roll: { percent: 100, waves: 1, waveIntervalS: 0 },
    afterRollMs: 2 * 1.2 * settings.pollS * 1000 + settings.drainS * 1000 + 5_000,
  });
  const total = [...r.rollByWhat.values()].reduce((a, b) => a + b, 0);
  return { reportPut: (r.rollByWhat.get('report') ?? 0) / settings.agents, total: total / settings.agents };
}

export interface CheckRow { what: string; real: number; model: number; ok: boolean }

/** The requests per agent per minute the model gives for the recorded settings, over a long idle window. */
export function modelPerAgentPerMinute(settings: FleetRecord['settings'], seed = 7): { total: number; channel: number; reportPut: number; other: number } {
  const idleMs = Math.max(30 * 60_000, 20 * settings.heartbeatS * 1000);
  const r = simulate({
    instances: settings.agents, sources: [{ name: 'standard', type: 'standard', writable: true }],
    settings: { pollIntervalS: settings.pollS, reportHeartbeatS: settings.heartbeatS, drainS: settings.drainS },
    timings: TIMINGS, codeBytes: CODE_BYTES, seed, idleMs, roll: null,
  });
  const perMin = (n: number) => n / settings.agents / (idleMs / 60_000);
  const by = (what: string) => r.idle.byWhat.get(what) ?? 0;
  const channel = by('channel 304') + by('channel 200');
  const total = [...r.idle.byWhat.values()].reduce((a, b) => a + b, 0);
  return { total: perMin(total), channel: perMin(channel), reportPut: perMin(by('report')), other: perMin(total - channel - by('report')) };
}

/**
 * Pure: real against model, each within `tolerance` (a fraction of the real count; counts
 * under one a minute compare with an absolute allowance of `tolerance` a minute, since one
 * write more or less in a minute-long window is most of the count).
 */
export function compareWithFleet(real: FleetRecord['idlePerAgentPerMinute'], model: ReturnType<typeof modelPerAgentPerMinute>, tolerance = 0.1): CheckRow[] {
  const within = (r: number, m: number) => Math.abs(m - r) <= tolerance * Math.max(r, 1);
  const rows: Array<[string, number, number]> = [
    ['requests, all', real.total, model.total],
    ['GET channel (304 and 200)', real.channel304 + real.channel200, model.channel],
    ['PUT instance report', real.reportPut, model.reportPut],
  ];
  return rows.map(([what, r, m]) => ({ what, real: r, model: m, ok: within(r, m) }));
}
