// The demo: the whole loop on one machine with nothing to set up. A local S3 store; three
// agents (real processes, zones local-1a/1b/1c) behind a load balancer that checks their
// /healthz; the sample app published and rolled; then, under steady traffic, a second
// release (a code change) rolled in waves, and the outage drill (drill.ts): a zone lost and
// replaced, then the primary store lost and a fresh instance booted from a mirror. Shows the
// fleet as it changes and ends with the requests served and failed through each phase.
// Ctrl-C at any point stops everything and removes the files.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { actor, type Output } from '../agent/commands/output.ts';
import { publish } from '../agent/commands/publish.ts';
import { roll } from '../agent/commands/roll.ts';
import { HerdError } from '../agent/errors.ts';
import { silentLogger } from '../agent/log.ts';
import type { SourceConfig } from '../agent/config.ts';
import { createS3Client } from '../agent/store/client.ts';
import { describeSource } from '../agent/store/layout.ts';
import { ObjectStore } from '../agent/store/object-store.ts';
import { LOCAL_S3_CREDENTIALS, startLocalS3 } from '../support/local-s3.ts';
import { freePort } from '../support/ports.ts';
import { HEALTH_CHECK, startBalancer, type Balancer } from './balancer.ts';
import { createFleetView, describeTraffic, type FleetRow } from './fleet-view.ts';
import { planFleet, planInstances, startAgent, type FleetAgent, type InstancePlan } from './fleet.ts';
import { loseStore, loseZone, type DrillContext, type OutageResult } from './drill.ts';
import { startMirrorStore } from './mirror-store.ts';
import { countsBetween, planOutage } from './outage-plan.ts';
import { interruptOnSignals, Interrupted, sleep, throwIfInterrupted } from './signals.ts';
import { describeInstances, describeSummary, rollTimeoutMessage, type DemoSummary, type Phase } from './summary.ts';
import { startTraffic, type Traffic, type TrafficCounts } from './traffic.ts';
import { watchFleet } from './watch.ts';

export interface DemoInput {
  out: Output;
  /** The environment the agents and HAProxy start from (PATH...); HERD_* and AWS_* are dropped. */
  env: Readonly<Record<string, string | undefined>>;
  /** At the end (after the roll and the drill), leave everything running until Ctrl-C. */
  keep?: boolean;
  /** At the end, leave everything running this long, then stop (for scripts). */
  exitAfterS?: number;
  /** Where the fleet table goes, and whether to redraw it in place; default stderr, live on a terminal. */
  view?: { write(text: string): void; live: boolean };
  /** The herd CLI to start agents with; default: this checkout's dist/herd.mjs, the product as built. */
  herdScript?: string;
  /** How long the fleet has to take the second release. */
  rollTimeoutS?: number;
  /** Skip the roll: boot the fleet on the first release, then run the outage drill. */
  drillOnly?: boolean;
}

const BUCKET = 'herd-demo';
const ROLE = 'web';
const ZONES = ['local-1a', 'local-1b', 'local-1c'];
const FIRST = { id: 'hello-1', code: 'hello-app' };
const SECOND = { id: 'hello-2', code: 'hello-app-v2' };
const ROLLOUT = { waves: 3, waveIntervalS: 5 };
/** Drain (2 s) outlasts the balancer's fall × inter (1 s), so it stops sending before the app stops. */
export const FLEET = { pollIntervalS: 1, drainS: 2 };
const TRAFFIC = { ratePerS: 25, warmUpS: 2, afterPhaseS: 1.5, shareWindowS: 2 };
const BOOT_TIMEOUT_S = 60;

interface Running {
  agents: FleetAgent[];
  balancer?: Balancer;
  traffic?: Traffic;
  trafficStartedAt: number;
  rows: FleetRow[];
  s3Endpoint: string;
  mirrorEndpoint: string | null;
  /** Seconds the roll took, once every instance took the second release. */
  rollS: number | null;
  phases: Phase[];
  /** Where the current phase began: when, and the traffic's counts then. */
  phaseStart: { at: number; counts: TrafficCounts };
}

const NO_TRAFFIC: TrafficCounts = { served: 0, failed: 0, byRelease: {}, failures: {} };

export async function runDemo(input: DemoInput): Promise<void> {
  const { out } = input;
  const signals = interruptOnSignals();
  const root = await mkdtemp(join(tmpdir(), 'herd-demo-'));
  const cleanups: Array<() => Promise<void>> = [() => rm(root, { recursive: true, force: true })];
  const run: Running = {
    agents: [], rows: [], trafficStartedAt: 0, s3Endpoint: '', mirrorEndpoint: null, rollS: null, phases: [], phaseStart: { at: 0, counts: NO_TRAFFIC },
  };
  const drillOnly = input.drillOnly === true;
  const view = createFleetView(input.view ?? { write: (t) => process.stderr.write(t), live: process.stderr.isTTY === true });
  const note = (line: string) => { if (!out.json) view.note(line); };
  const watch = (what: { done: (rows: FleetRow[]) => boolean; timeoutS: number; onRows?: (rows: FleetRow[]) => void; tickMs?: number }) => watchFleet({
    agents: run.agents, balancer: run.balancer as Balancer, signal: signals.signal, ...what,
    view: out.json ? { note: () => {}, show: () => {}, end: () => {} } : view,
    onRows: (rows) => { run.rows = rows; what.onRows?.(rows); },
    trafficLine: () => describeTraffic(run.traffic ? {
      elapsedS: (Date.now() - run.trafficStartedAt) / 1000, counts: run.traffic.counts(),
      share: run.traffic.recentShare(TRAFFIC.shareWindowS * 1000), windowS: TRAFFIC.shareWindowS,
    } : null),
  });
  /** Closes the phase that ran since the last one ended, with what the traffic did meanwhile. */
  const endPhase = (name: Phase['name'], outcome: OutageResult | null) => {
    const counts = run.traffic?.counts() ?? NO_TRAFFIC;
    run.phases.push({
      name, seconds: (Date.now() - run.phaseStart.at) / 1000, requests: countsBetween(run.phaseStart.counts, counts),
      lost: outcome?.lost ?? null, replacement: outcome?.replacement ?? null,
    });
    run.phaseStart = { at: Date.now(), counts };
  };
  const summary = async (): Promise<DemoSummary> => {
    const requests = await run.traffic?.stop() ?? NO_TRAFFIC;
    const retries = await run.balancer?.retries().catch(() => undefined) ?? { retried: 0, redispatched: 0 };
    return {
      role: ROLE, from: FIRST.id, to: SECOND.id, drillOnly, rolled: run.rollS !== null, rollSeconds: run.rollS, phases: run.phases,
      trafficSeconds: run.traffic ? (Date.now() - run.trafficStartedAt) / 1000 : 0,
      balancer: { description: run.balancer?.description ?? 'none', url: run.balancer?.url ?? '', pid: run.balancer?.pid ?? null, ...retries },
      requests,
      instances: describeInstances(run.agents.map((a) => ({ plan: a.plan, agentPid: a.child.pid })), run.rows),
      store: run.s3Endpoint, mirror: run.mirrorEndpoint, dir: root,
    };
  };
  try {
    const here = dirname(fileURLToPath(import.meta.url));
    const examples = dirname(findUp(here, 'examples/hello-app', 'the demo runs from a checkout of the herd project'));
    const herdScript = input.herdScript ?? findUp(here, 'dist/herd.mjs', 'npm run build writes it (npm run demo builds first)');
    const s3 = await startLocalS3({ directory: join(root, 's3'), buckets: [BUCKET] });
    cleanups.push(() => s3.close());
    run.s3Endpoint = s3.endpoint;
    note(`local S3 store at ${s3.endpoint} (bucket ${BUCKET})`);
    const source = { bucket: BUCKET, prefix: 'herd', endpoint: s3.endpoint, forcePathStyle: true };
    const store = new ObjectStore({ source, log: silentLogger(), client: createS3Client(source, LOCAL_S3_CREDENTIALS) });
    const quiet: Output = { ...out, info: () => {}, progress: () => () => {} };
    const release = async (which: typeof FIRST, how: { waves: number; waveIntervalS: number }) => {
      const published = await publish({
        store, role: ROLE, code: join(examples, which.code), config: join(examples, 'hello-config'), release: which.id, out: quiet, log: silentLogger(),
      });
      await roll({ store, role: ROLE, release: which.id, ...how, actor: actor(), log: silentLogger() });
      return `${ROLE}/${which.id} (examples/${which.code}, code ${published.code.digest.slice(7, 19)})`;
    };

    note(`published ${await release(FIRST, { waves: 1, waveIntervalS: 0 })} and rolled the channel to it`);
    throwIfInterrupted(signals.signal);
    const plans = await planFleet({ root, zones: ZONES, waves: ROLLOUT.waves });
    const outage = planOutage(plans, ZONES);
    const [replacement, fresh] = await planInstances(root, [outage.replacement, outage.fresh]) as [InstancePlan, InstancePlan];
    const env = childEnv(input.env);
    const start = async (plan: InstancePlan, sources: SourceConfig[]) => {
      const agent = await startAgent({ plan, settings: { role: ROLE, sources, ...FLEET }, herdScript, env });
      run.agents.push(agent);
      return agent;
    };
    cleanups.push(() => stopAgents(run));
    for (const plan of plans) await start(plan, [source]);
    note(`started ${plans.length} agents: ${plans.map((p) => `${p.instanceId} in ${p.zone}`).join(', ')} (poll ${FLEET.pollIntervalS} s, drain ${FLEET.drainS} s)`);

    throwIfInterrupted(signals.signal);
    // The drill's two new instances have their slots from the start, as a fleet's servers
    // found through DNS (HAProxy's server-template) do: down until something answers there.
    const balancer = await startBalancer({
      dir: root, port: await freePort(), env, log: silentLogger(),
      servers: [...plans, replacement, fresh].map((p) => ({ name: p.instanceId, appPort: p.appPort, healthPort: p.healthPort })),
      searchPath: [...(input.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin'],
      onFallback: (why) => note(`${why}; using the built-in Node proxy instead`),
    });
    run.balancer = balancer;
    cleanups.push(() => balancer.stop());
    note(`load balancer: ${balancer.description} at ${balancer.url}/, checking ${HEALTH_CHECK.path} every ${HEALTH_CHECK.interMs} ms (fall ${HEALTH_CHECK.fall}, rise ${HEALTH_CHECK.rise})`);

    const serving = (id: string) => (rows: FleetRow[]) => rows.every((r) => r.release === id && r.healthy && r.lb === 'UP');
    if (!await watch({ done: serving(FIRST.id), timeoutS: BOOT_TIMEOUT_S })) {
      throw new HerdError(rollTimeoutMessage(run.rows, FIRST.id, BOOT_TIMEOUT_S));
    }

    run.traffic = startTraffic({ url: `${balancer.url}/`, ratePerS: TRAFFIC.ratePerS });
    run.trafficStartedAt = Date.now();
    run.phaseStart = { at: run.trafficStartedAt, counts: NO_TRAFFIC };
    cleanups.push(async () => { await run.traffic?.stop(); });
    note(`sending ${TRAFFIC.ratePerS} requests/s through the load balancer`);
    await watch({ done: () => false, timeoutS: TRAFFIC.warmUpS });
    // After each phase, a moment of traffic on the fleet as it now stands.
    const settle = () => watch({ done: () => false, timeoutS: TRAFFIC.afterPhaseS });

    let rolled = true; // with --drill-only, there is nothing to roll
    const rollTimeoutS = input.rollTimeoutS ?? 90;
    if (!drillOnly) {
      note(`published ${await release(SECOND, ROLLOUT)}; rolling it in ${ROLLOUT.waves} waves, ${ROLLOUT.waveIntervalS} s apart`);
      const rollStarted = Date.now();
      rolled = await watch({ done: serving(SECOND.id), timeoutS: rollTimeoutS });
      if (rolled) {
        run.rollS = (Date.now() - rollStarted) / 1000;
        note(`all ${plans.length} instances run ${SECOND.id}, healthy and in the load balancer, ${run.rollS.toFixed(1)} s after the roll`);
        await settle();
        endPhase('roll', null);
      }
    }
    if (rolled) {
      const drill: DrillContext = {
        agents: () => run.agents, victim: outage.lost, replacement, fresh, release: drillOnly ? FIRST.id : SECOND.id, start, note,
        primary: { source, name: describeSource(source), endpoint: s3.endpoint, stop: () => s3.close() },
        openMirror: async () => {
          const mirror = await startMirrorStore({ root, from: source, role: ROLE, herdScript, env, signal: signals.signal });
          cleanups.push(() => mirror.close());
          run.mirrorEndpoint = mirror.endpoint;
          return mirror;
        },
        watch: (what) => watch({ ...what, tickMs: 250 }),
      };
      const zone = await loseZone(drill);
      await settle();
      endPhase('zone loss', zone);
      const store = await loseStore(drill);
      await settle();
      endPhase('store loss', store);
    }
    const lingers = input.keep === true || input.exitAfterS !== undefined;
    view.end();
    const result = await summary();
    out.result(describeSummary(result, lingers), { ...result });
    if (!rolled) throw new HerdError(rollTimeoutMessage(run.rows, SECOND.id, rollTimeoutS));

    if (lingers) {
      note(input.keep ? 'everything keeps running: Ctrl-C to stop and clean up' : `everything keeps running for ${input.exitAfterS} s`);
      await sleep(input.keep ? Number.POSITIVE_INFINITY : (input.exitAfterS as number) * 1000, signals.signal).catch((err: unknown) => {
        if (!(err instanceof Interrupted)) throw err;
      });
    }
    note('stopping: load balancer, agents and their apps, the local stores');
  } catch (err) {
    if (!(err instanceof Interrupted)) throw err;
    note('interrupted: stopping traffic, load balancer, agents and their apps, the local stores');
    view.end();
    const result = await summary();
    out.result(describeSummary(result, false), { ...result, interrupted: true });
  } finally {
    for (const fn of cleanups.reverse()) await fn().catch(() => {});
    signals.dispose();
  }
}

/** Agents stop their apps on SIGTERM; an agent that hangs is killed with its app's group. */
async function stopAgents(run: Running): Promise<void> {
  await Promise.all(run.agents.map((a) => a.child.stop({
    timeoutMs: 20_000,
    alsoKill: () => [run.rows.find((r) => r.instanceId === a.plan.instanceId)?.appPid ?? null],
  })));
}

/** Pure: the children's environment: the host's, minus herd and AWS settings, plus the local store's credentials. */
export function childEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !k.startsWith('HERD_') && !k.startsWith('AWS_')) out[k] = v;
  return {
    ...out,
    PATH: out.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
  };
}

/**
 * The first `rel` that exists in `from` or a folder above it: the sample apps and the built
 * product sit in the checkout, found the same way from dist/demo.mjs and from demo/ sources.
 */
function findUp(from: string, rel: string, hint: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = resolve(dir, rel);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new HerdError(`cannot find ${rel}: ${hint}`);
  }
}
