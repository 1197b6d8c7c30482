// What the demo ends with: the requests served and failed (by release), the fleet, and
// the URLs to look at. Pure: built from what the demo saw, printed by the caller.
import type { FleetRow } from './fleet-view.ts';
import type { InstancePlan } from './fleet.ts';
import type { TrafficCounts } from './traffic.ts';

export interface DemoSummary {
  role: string;
  from: string;
  to: string;
  /** Whether every instance ended on `to`, healthy and in the load balancer. */
  rolled: boolean;
  rollSeconds: number | null;
  trafficSeconds: number;
  balancer: { description: string; url: string; pid: number | null; retried: number; redispatched: number };
  requests: TrafficCounts;
  instances: Array<FleetRow & { agentPid: number; app: string; healthz: string; status: string }>;
  store: string;
  dir: string;
}

export function describeSummary(s: DemoSummary, withUrls: boolean): string {
  const byRelease = Object.entries(s.requests.byRelease).map(([r, n]) => `${r} ${n}`).join(', ') || 'none';
  const failures = Object.entries(s.requests.failures).map(([why, n]) => `${why} ×${n}`).join(', ');
  const lines = [
    '',
    s.rolled
      ? `  ${s.role}: ${s.from} -> ${s.to} on ${s.instances.length} instances in ${new Set(s.instances.map((i) => i.zone)).size} zones, rolled in ${s.rollSeconds?.toFixed(1)} s under traffic`
      : `  ${s.role}: the roll from ${s.from} to ${s.to} did not finish`,
    `  requests through ${s.balancer.description} in ${s.trafficSeconds.toFixed(1)} s: ${s.requests.served} served, ${s.requests.failed} failed`,
    `    served by release: ${byRelease}`,
    `    load balancer: ${s.balancer.retried} retried on the same instance, ${s.balancer.redispatched} sent to another after a failed attempt`,
    ...(failures ? [`    failed: ${failures}`] : []),
  ];
  if (withUrls) {
    const width = Math.max(...s.instances.map((i) => i.instanceId.length), 'load balancer'.length);
    lines.push(
      '',
      `  ${'load balancer'.padEnd(width)}  ${s.balancer.url}/`,
      ...s.instances.map((i) => `  ${i.instanceId.padEnd(width)}  ${i.zone}  app ${i.app}  status ${i.status}`),
      `  ${'store'.padEnd(width)}  ${s.store}/`,
    );
  }
  return `${lines.join('\n')}\n`;
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
