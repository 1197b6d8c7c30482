// The outage drill, under traffic, after the roll (or right after boot with --drill-only).
// Zone loss: the lost zone's instance dies with its app, as a machine does (SIGKILL, no
// drain); the balancer routes around it and a replacement boots in a zone that survives.
// Store loss: a mirror store is filled with `herd mirror`, the primary store stops, and a
// fresh instance whose sources are [primary, mirror] boots from the mirror. The traffic
// counts show whether the fleet kept serving through both.
import { readFile } from 'node:fs/promises';
import type { SourceConfig } from '../agent/config.ts';
import { HerdError } from '../agent/errors.ts';
import { describeSource } from '../agent/store/layout.ts';
import type { FleetRow } from './fleet-view.ts';
import { killInstance, readStatus, type FleetAgent, type InstancePlan } from './fleet.ts';
import type { MirrorStore } from './mirror-store.ts';
import { sourcesInLog } from './outage-plan.ts';

export interface DrillContext {
  /** The fleet as it is now; `start` adds to it. */
  agents(): FleetAgent[];
  /** The instance the zone loss takes. */
  victim: string;
  replacement: InstancePlan;
  fresh: InstancePlan;
  /** The release the fleet runs, which new instances must come up on. */
  release: string;
  primary: { source: SourceConfig; name: string; endpoint: string; stop(): Promise<void> };
  start(plan: InstancePlan, sources: SourceConfig[]): Promise<FleetAgent>;
  /** Starts the mirror store and fills it from the primary. */
  openMirror(): Promise<MirrorStore>;
  watch(what: { done: (rows: FleetRow[]) => boolean; timeoutS: number; onRows?: (rows: FleetRow[]) => void }): Promise<boolean>;
  note(line: string): void;
}

export const DRILL = {
  /** Time for the balancer to take the lost instance out: fall × inter, with room to spare. */
  takenOutTimeoutS: 15,
  replaceTimeoutS: 60,
};

/** A new instance that took over, measured from the loss. */
export interface Replacement {
  instanceId: string;
  zone: string;
  /** Its sources in order, as their names. */
  sources: string[];
  /** Seconds from the loss until its /healthz passed, and until the balancer had it UP. */
  healthyAfterS: number;
  inBalancerAfterS: number;
  /** From its log: where it fetched its release, and which sources failed it on the way. */
  fetchedFrom: string[];
  failedSources: string[];
}

export interface OutageResult {
  /** For people: what was lost. */
  lost: string;
  replacement: Replacement;
}

export async function loseZone(ctx: DrillContext): Promise<OutageResult> {
  const victim = ctx.agents().find((a) => a.plan.instanceId === ctx.victim);
  if (!victim) throw new HerdError(`the drill has no instance ${ctx.victim} to lose`);
  const { instanceId: id, zone } = victim.plan;
  const appPid = (await readStatus(victim.plan)).appPid;
  if (appPid === null) throw new HerdError(`${id} runs no app, so losing it shows nothing: its /status has no pid`);
  const lostAt = Date.now();
  killInstance(victim, appPid);
  ctx.note(`zone loss: ${zone} is gone: ${id}'s agent and app killed (SIGKILL, no drain, as a machine that died)`);
  const takenOut = await ctx.watch({ done: (rows) => rows.find((r) => r.instanceId === id)?.lb === 'DOWN', timeoutS: DRILL.takenOutTimeoutS });
  if (!takenOut) throw new HerdError(`the load balancer still sends to ${id} ${DRILL.takenOutTimeoutS} s after it died: are its health checks on?`);
  ctx.note(`the load balancer took ${id} out after ${seconds(lostAt)} s; booting a replacement, ${ctx.replacement.instanceId} in ${ctx.replacement.zone}`);
  const replacement = await bootReplacement(ctx, ctx.replacement, [ctx.primary.source], lostAt);
  ctx.note(`${replacement.instanceId} runs ${ctx.release}: healthy ${replacement.healthyAfterS.toFixed(1)} s after the loss, in the load balancer after ${replacement.inBalancerAfterS.toFixed(1)} s`);
  return { lost: `${id} in ${zone}`, replacement };
}

export async function loseStore(ctx: DrillContext): Promise<OutageResult> {
  const mirror = await ctx.openMirror();
  ctx.note(`mirror store at ${mirror.endpoint}/ (another provider's, in a real fleet), filled by \`${mirror.command}\`: ${mirror.copied}`);
  const lostAt = Date.now();
  await ctx.primary.stop();
  ctx.note(`store loss: the primary store at ${ctx.primary.endpoint}/ is down; the running instances keep serving what they run`);
  ctx.note(`booting ${ctx.fresh.instanceId} in ${ctx.fresh.zone}, sources [primary, mirror]`);
  const replacement = await bootReplacement(ctx, ctx.fresh, [ctx.primary.source, mirror.source], lostAt);
  if (!replacement.fetchedFrom.includes(mirror.name)) {
    throw new HerdError(`${replacement.instanceId} came up, but its log does not say it fetched from the mirror (${mirror.name}); it names ${replacement.fetchedFrom.join(', ') || 'no source'}`);
  }
  ctx.note(`${replacement.instanceId} fetched ${ctx.release} from the mirror${replacement.failedSources.includes(ctx.primary.name) ? ' after the primary failed it' : ''}: ` +
    `healthy ${replacement.healthyAfterS.toFixed(1)} s after the loss, in the load balancer after ${replacement.inBalancerAfterS.toFixed(1)} s`);
  return { lost: `the primary store at ${ctx.primary.endpoint}`, replacement };
}

/** Starts `plan` and waits until it runs the fleet's release, healthy and UP in the balancer. */
async function bootReplacement(ctx: DrillContext, plan: InstancePlan, sources: SourceConfig[], lostAt: number): Promise<Replacement> {
  const agent = await ctx.start(plan, sources);
  const seen: { healthyAt: number | null } = { healthyAt: null };
  const rowOf = (rows: FleetRow[]) => rows.find((r) => r.instanceId === plan.instanceId);
  const up = await ctx.watch({
    timeoutS: DRILL.replaceTimeoutS,
    onRows: (rows) => { if (seen.healthyAt === null && rowOf(rows)?.healthy) seen.healthyAt = Date.now(); },
    done: (rows) => {
      const row = rowOf(rows);
      return row?.release === ctx.release && row.healthy && row.lb === 'UP';
    },
  });
  if (!up) {
    const status = await readStatus(plan);
    throw new HerdError(`the replacement ${plan.instanceId} did not come up on ${ctx.release} within ${DRILL.replaceTimeoutS} s ` +
      `(it runs ${status.release ?? 'nothing'}, ${status.state}); the end of its log:\n${await agent.child.tail(8)}`);
  }
  const inBalancerAt = Date.now();
  const log = sourcesInLog(await readFile(plan.logFile, 'utf8').catch(() => ''));
  return {
    instanceId: plan.instanceId, zone: plan.zone, sources: sources.map(describeSource),
    healthyAfterS: ((seen.healthyAt ?? inBalancerAt) - lostAt) / 1000, inBalancerAfterS: (inBalancerAt - lostAt) / 1000,
    fetchedFrom: log.fetchedFrom, failedSources: log.failed,
  };
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(1);
}
