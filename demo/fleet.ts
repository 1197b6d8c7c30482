// The demo fleet: one agent process per zone, each with its own data directory, health
// port and app port, a static identity, and a short poll and drain so a roll is quick.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourceConfig } from '../agent/config.ts';
import { slotOf, waveOf } from '../agent/rollout/decide.ts';
import { freePorts } from '../support/ports.ts';
import { signalGroup, spawnChild, type DemoChild } from './children.ts';

export interface InstancePlan {
  instanceId: string;
  zone: string;
  healthPort: number;
  appPort: number;
  dataDir: string;
  configFile: string;
  logFile: string;
}

export interface FleetSettings {
  role: string;
  /** In order: the agent reads from the first that answers. */
  sources: SourceConfig[];
  pollIntervalS: number;
  /** Must outlast the balancer's fall × inter, so it stops sending before the app stops. */
  drainS: number;
}

/**
 * Pure: one instance id per zone, chosen so the instance in zone k lands in wave k of a
 * `waves`-wave rollout: the roll then takes one instance out at a time.
 */
export function instanceIdsForWaves(zones: string[], waves: number): string[] {
  return zones.map((zone, k) => {
    const base = `i-herd-${zone.slice(-1)}`;
    for (let n = 1; ; n++) {
      const id = n === 1 ? base : `${base}-${n}`;
      if (waveOf(slotOf(id), 100, waves) === k % waves) return id;
    }
  });
}

/** Each instance's ports and files under `root`. */
export async function planInstances(root: string, members: Array<{ instanceId: string; zone: string }>): Promise<InstancePlan[]> {
  const ports = await freePorts(members.length * 2);
  return members.map(({ instanceId, zone }, k) => ({
    instanceId,
    zone,
    healthPort: ports[2 * k] as number,
    appPort: ports[2 * k + 1] as number,
    dataDir: join(root, instanceId),
    configFile: join(root, `${instanceId}.json`),
    logFile: join(root, `${instanceId}.log`),
  }));
}

/** One instance per zone, each in its own wave of a `waves`-wave rollout. */
export function planFleet(input: { root: string; zones: string[]; waves: number }): Promise<InstancePlan[]> {
  const ids = instanceIdsForWaves(input.zones, input.waves);
  return planInstances(input.root, input.zones.map((zone, k) => ({ instanceId: ids[k] as string, zone })));
}

/** Pure: the agent config file of one instance. */
export function agentConfig(plan: InstancePlan, settings: FleetSettings): Record<string, unknown> {
  return {
    sources: settings.sources,
    dataDir: plan.dataDir,
    healthPort: plan.healthPort,
    healthHost: '127.0.0.1',
    appPort: plan.appPort,
    appUser: null,
    pollIntervalS: settings.pollIntervalS,
    drainS: settings.drainS,
    identity: { provider: 'static', instanceId: plan.instanceId, role: settings.role, az: plan.zone, region: 'local' },
  };
}

export interface FleetAgent {
  plan: InstancePlan;
  child: DemoChild;
  /** Set when the drill killed it with its app, as a machine that died: the app's pid. */
  lost: { appPid: number } | null;
}

/** Starts `herd agent` for one planned instance; the env carries the store's credentials. */
export async function startAgent(input: {
  plan: InstancePlan; settings: FleetSettings; herdScript: string; env: Record<string, string>;
}): Promise<FleetAgent> {
  const { plan } = input;
  await writeFile(plan.configFile, `${JSON.stringify(agentConfig(plan, input.settings), null, 2)}\n`);
  const child = spawnChild({
    name: plan.instanceId, command: process.execPath, args: [input.herdScript, 'agent', '--config', plan.configFile],
    env: input.env, logFile: plan.logFile,
  });
  return { plan, child, lost: null };
}

/** Kills an instance as a machine dies: SIGKILL to its agent's and its app's process groups at once, no drain. */
export function killInstance(agent: FleetAgent, appPid: number): void {
  agent.lost = { appPid };
  signalGroup(agent.child.pid, 'SIGKILL');
  signalGroup(appPid, 'SIGKILL');
}

/** What the demo shows of one instance, from its /status. */
export interface InstanceStatus {
  instanceId: string;
  zone: string;
  release: string | null;
  /** The release the agent wants to run (it may be waiting for its wave). */
  desired: string | null;
  state: string;
  healthy: boolean;
  appPid: number | null;
}

export async function readStatus(plan: InstancePlan): Promise<InstanceStatus> {
  const base = { instanceId: plan.instanceId, zone: plan.zone };
  try {
    const res = await fetch(`http://127.0.0.1:${plan.healthPort}/status`, { signal: AbortSignal.timeout(1_000) });
    const s = await res.json() as { release?: unknown; desired?: unknown; state?: unknown; healthy?: unknown; pid?: unknown };
    return {
      ...base,
      release: typeof s.release === 'string' ? s.release : null,
      desired: typeof s.desired === 'string' ? s.desired : null,
      state: typeof s.state === 'string' ? s.state : 'unknown',
      healthy: s.healthy === true,
      appPid: typeof s.pid === 'number' ? s.pid : null,
    };
  } catch {
    return { ...base, release: null, desired: null, state: 'no answer', healthy: false, appPid: null };
  }
}
