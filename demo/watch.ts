// Watching the fleet: every tick, each agent's /status and the balancer's view of it,
// shown in the table, until a condition holds, the time is up, or an agent dies (one the
// drill killed stays in the table as lost).
import { HerdError } from '../agent/errors.ts';
import type { Balancer } from './balancer.ts';
import type { FleetRow, FleetView } from './fleet-view.ts';
import { readStatus, type FleetAgent, type InstanceStatus } from './fleet.ts';
import { sleep } from './signals.ts';

export interface WatchInput {
  agents: FleetAgent[];
  balancer: Balancer;
  view: FleetView;
  signal: AbortSignal;
  trafficLine: () => string;
  done: (rows: FleetRow[]) => boolean;
  timeoutS: number;
  /** The latest rows, every tick (for the summary and error messages). */
  onRows: (rows: FleetRow[]) => void;
  tickMs?: number;
}

/** True once `done` holds, false when `timeoutS` passed first; throws when an agent exited. */
export async function watchFleet(input: WatchInput): Promise<boolean> {
  const deadline = Date.now() + input.timeoutS * 1000;
  for (;;) {
    const rows = await fleetRows(input.agents, input.balancer);
    input.onRows(rows);
    input.view.show(rows, input.trafficLine());
    const dead = input.agents.find((a) => !a.lost && !a.child.running());
    if (dead) {
      throw new HerdError(`the agent of ${dead.plan.instanceId} exited (${await dead.child.exited}); the end of its log:\n${await dead.child.tail(8)}`);
    }
    if (input.done(rows)) return true;
    if (Date.now() > deadline) return false;
    await sleep(input.tickMs ?? 500, input.signal);
  }
}

export async function fleetRows(agents: FleetAgent[], balancer: Balancer): Promise<FleetRow[]> {
  const [statuses, lb] = await Promise.all([
    Promise.all(agents.map((a) => (a.lost ? lostStatus(a) : readStatus(a.plan)))),
    balancer.serverStates().catch(() => ({} as Record<string, string>)),
  ]);
  return statuses.map((s) => ({ ...s, lb: lb[s.instanceId] ?? '?' }));
}

/** A killed instance: nothing answers; the app that ran is named so the summary can show it is gone. */
function lostStatus(agent: FleetAgent): InstanceStatus {
  return { instanceId: agent.plan.instanceId, zone: agent.plan.zone, release: null, desired: null, state: 'lost', healthy: false, appPid: agent.lost?.appPid ?? null };
}
