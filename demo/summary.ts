// What the demo ends with: the requests served and failed (by release, and through each
// phase: the roll, the zone loss, the store loss), how soon each replacement was healthy,
// the fleet, and the URLs to look at. Pure: built from what the demo saw, printed by the caller.
import type { Replacement } from './drill.ts';
import type { FleetRow } from './fleet-view.ts';
import type { InstancePlan } from './fleet.ts';
import type { TrafficCounts } from './traffic.ts';

/** One phase of the demo, from the end of the one before (or from the first request). */
export interface Phase {
  name: 'roll' | 'zone loss' | 'store loss';
  seconds: number;
  requests: TrafficCounts;
  /** What the outage took away, for people; null for the roll. */
  lost: string | null;
  replacement: Replacement | null;
}

export interface DemoSummary {
  role: string;
  from: string;
  to: string;
  /** --drill-only: the fleet stayed on `from`, no roll was tried. */
  drillOnly: boolean;
  /** Whether every instance ended on `to`, healthy and in the load balancer. */
  rolled: boolean;
  rollSeconds: number | null;
  trafficSeconds: number;
  balancer: { description: string; url: string; pid: number | null; retried: number; redispatched: number };
  requests: TrafficCounts;
  /** The phases that finished, in order. */
  phases: Phase[];
  instances: Array<FleetRow & { agentPid: number; app: string; healthz: string; status: string }>;
  store: string;
  /** The mirror store's endpoint, once the drill started it. */
  mirror: string | null;
  dir: string;
}

export function describeSummary(s: DemoSummary, withUrls: boolean): string {
  const byRelease = Object.entries(s.requests.byRelease).map(([r, n]) => `${r} ${n}`).join(', ') || 'none';
  const failures = Object.entries(s.requests.failures).map(([why, n]) => `${why} ×${n}`).join(', ');
  const fleet = s.instances.filter((i) => i.state !== 'lost');
  const where = `${fleet.length} instances in ${new Set(fleet.map((i) => i.zone)).size} zones`;
  const lines = [
    '',
    s.drillOnly ? `  ${s.role}: ${s.from} on ${where}; no roll (--drill-only)`
    : s.rolled ? `  ${s.role}: ${s.from} -> ${s.to}, rolled in ${s.rollSeconds?.toFixed(1)} s under traffic; now ${where}`
      : `  ${s.role}: the roll from ${s.from} to ${s.to} did not finish`,
    `  requests through ${s.balancer.description} in ${s.trafficSeconds.toFixed(1)} s: ${s.requests.served} served, ${s.requests.failed} failed`,
    ...s.phases.map(describePhase),
    `    served by release: ${byRelease}`,
    `    load balancer: ${s.balancer.retried} retried on the same instance, ${s.balancer.redispatched} sent to another after a failed attempt`,
    ...(failures ? [`    failed: ${failures}`] : []),
  ];
  if (withUrls) {
    const width = Math.max(...s.instances.map((i) => i.instanceId.length), 'load balancer'.length);
    lines.push(
      '',
      `  ${'load balancer'.padEnd(width)}  ${s.balancer.url}/`,
      ...s.instances.map((i) => `  ${i.instanceId.padEnd(width)}  ${i.zone}  ${i.state === 'lost' ? 'lost in the drill' : `app ${i.app}  status ${i.status}`}`),
      `  ${'store'.padEnd(width)}  ${s.store}/${s.phases.some((p) => p.name === 'store loss') ? ' (stopped by the drill)' : ''}`,
      ...(s.mirror ? [`  ${'mirror'.padEnd(width)}  ${s.mirror}/`] : []),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Pure: "    zone loss   150 served, 0 failed in 6.1 s: lost i-herd-a in local-1a; i-herd-b-2 in local-1b healthy after 3.2 s, ..." */
export function describePhase(p: Phase): string {
  const head = `    ${p.name.padEnd(10)}  ${p.requests.served} served, ${p.requests.failed} failed in ${p.seconds.toFixed(1)} s`;
  const r = p.replacement;
  if (!p.lost || !r) return head;
  // Where it fetched from is news only when it had a choice of sources.
  const from = r.sources.length > 1 ? `, fetched from ${r.fetchedFrom.join(', ') || 'no source'}` : '';
  return `${head}: lost ${p.lost}; ${r.instanceId} in ${r.zone} healthy after ${r.healthyAfterS.toFixed(1)} s ` +
    `(in the load balancer after ${r.inBalancerAfterS.toFixed(1)} s)${from}`;
}

/** The instances' part of the summary: what was last seen, with their URLs. */
export function describeInstances(plans: Array<{ plan: InstancePlan; agentPid: number }>, rows: FleetRow[]): DemoSummary['instances'] {
  return plans.map(({ plan, agentPid }) => {
    const row = rows.find((r) => r.instanceId === plan.instanceId)
      ?? { instanceId: plan.instanceId, zone: plan.zone, release: null, desired: null, state: 'unknown', healthy: false, appPid: null, lb: '?' };
    const health = `http://127.0.0.1:${plan.healthPort}`;
    return { ...row, agentPid, app: `http://127.0.0.1:${plan.appPort}/`, healthz: `${health}/healthz`, status: `${health}/status` };
  });
}

/** Why the roll did not finish, instance by instance. */
export function rollTimeoutMessage(rows: FleetRow[], to: string, timeoutS: number): string {
  const behind = rows.filter((r) => r.release !== to || !r.healthy || r.lb !== 'UP')
    .map((r) => `${r.instanceId} runs ${r.release ?? 'nothing'} (wants ${r.desired ?? '?'}, ${r.state}, ${r.healthy ? 'healthy' : 'unhealthy'}, load balancer ${r.lb})`);
  const stuck = rows.every((r) => r.desired !== to) ? '; no agent wants it: do they poll their channel?' : '';
  return `the fleet did not take ${to} within ${timeoutS} s: ${behind.join('; ')}${stuck}`;
}
