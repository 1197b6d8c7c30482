// The runner: the one module that knows every other. One loop, serialized: poll the channel
// (conditional GET), decide which release this instance should run, and apply it (fetch while
// the old app serves; reload, or drain → stop → switch → start → health gate, going back to the
// previous release by itself when the new one fails). At boot with every source down it starts
// the last-known-good release. It never exits on its own for a fault of the store, the metadata
// service or the app: it records, reports and retries.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { AgentConfig } from './config.ts';
import { resolveAppUser } from './app-user.ts';
import { describeError, HerdError, IdentityError, StoreError } from './errors.ts';
import { createMetrics, type AgentMetrics } from './health/metrics.ts';
import { startHealthServer } from './health/server.ts';
import { ImdsClient } from './identity/imds-client.ts';
import { resolveIdentity } from './identity/resolve.ts';
import { describeNotice, watchTermination } from './lifecycle/termination.ts';
import type { Identity } from './identity/types.ts';
import type { Logger } from './log.ts';
import { writeFileAtomic } from './releases/atomic.ts';
import { DataDir, type InstalledRelease } from './releases/data-dir.ts';
import { checkInstalledSignature, fetchRelease } from './releases/fetch-release.ts';
import { parseTrustedKeys } from './signing/keys.ts';
import { pruneDataDir } from './releases/prune.ts';
import { reapLeftoverApp } from './supervisor/app-record.ts';
import { withFailure, withLastKnownGood, type LocalState } from './releases/state.ts';
import { decideRelease } from './rollout/decide.ts';
import { planApply, pollDelayMs, shouldRollBackCrashLoop } from './rollout/plan.ts';
import { ObjectStore } from './store/object-store.ts';
import { INSTANCE_SCHEMA, type Channel, type InstanceReport, type InstanceState } from './store/schemas.ts';
import { backoffDelay } from './supervisor/health-check.ts';
import { ReleaseRunner } from './supervisor/release-runner.ts';
import { watchConfigFile } from './config-watch.ts';

export interface AgentInput {
  config: AgentConfig;
  log: Logger;
  version: string;
  /** Host environment the app inherits (PATH, LANG, ...), chosen by main.ts. */
  baseEnv: Record<string, string>;
  makeEc2?: (region: string) => EC2Client | Promise<EC2Client>;
  /** The config file to watch, and how to load it again (validated) when it changes. */
  configFile?: string;
  reloadConfig?: () => AgentConfig;
}

type Phase = 'booting' | 'fetching' | 'starting' | 'running' | 'failed' | 'stopping' | 'stopped';

/** A release young enough that a crash loop sends the instance back to the one before. */
const CRASH_LOOP_WINDOW_MS = 10 * 60_000;
/** An idle instance still rewrites its report this often, so `herd status` can tell it from a dead one. */
const REPORT_HEARTBEAT_MS = 60_000;
/** Changes within this window go into one report write (a roll makes several). */
const REPORT_DEBOUNCE_MS = 500;

export class Agent {
  private config: AgentConfig;
  private readonly log: Logger;
  private readonly metrics: AgentMetrics;
  private dataDir: DataDir;
  private stores: ObjectStore[];
  private identity: Identity | null = null;
  private runner: ReleaseRunner | null = null;
  private server: { port: number; close(): Promise<void> } | null = null;
  private state: LocalState | null = null;
  private phase: Phase = 'booting';
  private desired: string | null = null;
  private lastError: string | null = null;
  private draining = false;
  private stopped = false;
  /** Per source: the last channel read and its ETag, so an unchanged channel costs a 304. */
  private channels = new Map<string, { channel: Channel; etag: string | null }>();
  private generation: number | null = null;
  /** The release that ran before the last switch, and when the switch happened. */
  private previous: InstalledRelease | null = null;
  private switchedAtMs: number | null = null;
  private rollbackWanted = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly sleepers = new Map<() => void, boolean>();
  private reporting: Promise<void> | null = null;
  private reportAgain = false;
  private reportedAtMs = 0;
  private reportTimer: NodeJS.Timeout | null = null;
  private closeWatcher: (() => Promise<void>) | null = null;
  private imds: ImdsClient | null = null;
  private stopNoticeWatch: (() => void) | null = null;
  /** Set once a termination notice arrived: the instance is going; nothing new is applied. */
  private termination: string | null = null;
  private loop: Promise<void> | null = null;
  private readonly startedAt = new Date();

  constructor(private readonly input: AgentInput) {
    this.config = input.config;
    this.log = input.log.child({ module: 'agent' });
    this.metrics = createMetrics();
    this.dataDir = new DataDir({ root: this.config.dataDir, log: input.log });
    this.stores = this.buildStores(this.config);
  }

  get healthPort(): number | null {
    return this.server?.port ?? null;
  }

  /** Boots: returns once the first release runs (or the agent is stopped); then keeps following the channel. */
  async start(): Promise<void> {
    await this.dataDir.init();
    await reapLeftoverApp({ file: join(this.config.dataDir, 'app.pid'), log: this.log });
    this.state = await this.dataDir.readState();
    this.server = await this.startServer();
    this.identity = await this.resolveIdentityOrCached();
    this.runner = await this.buildRunner();
    this.log.info({ ...this.identity, sources: this.stores.map((s) => s.name), healthPort: this.server.port }, 'agent starting');
    this.watchNotices();
    if (this.input.configFile && this.input.reloadConfig) {
      this.closeWatcher = watchConfigFile({ file: this.input.configFile, log: this.input.log, onChange: () => void this.serial(() => this.reconfigure()) });
    }
    await this.bootLoop();
    if (!this.stopped) this.loop = this.watchLoop();
  }

  /** SIGTERM: turn unhealthy, stop the app gracefully, write a last report. */
  async stop(reason: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.log.info({ reason }, 'agent stopping');
    this.draining = true;
    this.wakeAll();
    this.stopNoticeWatch?.();
    await this.closeWatcher?.();
    // Stopping first ends a health gate or restart in flight, so the queue can drain; the
    // second stop below catches an app that queued work started meanwhile.
    await this.runner?.stop();
    await this.queue.catch(() => {});
    await this.loop?.catch(() => {});
    await this.runner?.stop();
    this.phase = 'stopped';
    if (this.reportTimer) clearTimeout(this.reportTimer);
    this.reportTimer = null;
    await this.reporting;
    await this.writeReport();
    await this.reporting;
    await this.server?.close();
  }

  status(): Record<string, unknown> {
    const runner = this.runner;
    return {
      identity: this.identity,
      state: this.instanceState(),
      healthy: this.isHealthy(),
      draining: this.draining,
      release: runner?.release?.id ?? null,
      desired: this.desired,
      pid: runner?.pid ?? null,
      restarts: runner?.restarts ?? 0,
      lastError: this.lastError ?? runner?.lastError ?? null,
      termination: this.termination,
      lastKnownGood: this.state?.lastKnownGood ?? null,
      failedReleases: Object.keys(this.state?.failed ?? {}),
      channelGeneration: this.generation,
      sources: this.stores.map((s) => s.name),
      agentVersion: this.input.version,
      startedAt: this.startedAt.toISOString(),
    };
  }

  private isHealthy(): boolean {
    return !this.draining && !this.stopped && !this.termination && (this.runner?.healthy ?? false);
  }

  private instanceState(): InstanceState {
    if (this.phase === 'stopped') return 'stopped';
    if (this.stopped) return 'stopping';
    if (this.draining) return 'draining';
    const runnerState = this.runner?.state;
    if (this.phase === 'running' && runnerState === 'crash-loop') return 'crash-loop';
    if (this.phase === 'running' && runnerState === 'starting') return 'starting';
    return this.phase;
  }

  // ---- the loop ------------------------------------------------------------------------

  private async bootLoop(): Promise<void> {
    for (let attempt = 1; !this.stopped; attempt++) {
      const ok = await this.serial(() => this.tick()).catch((err) => {
        this.fail(err, 'cannot get the release to run from any source');
        return false;
      });
      if (this.stopped || (ok && this.runner?.release)) return;
      if (!this.runner?.release && await this.serial(() => this.runLastKnownGood())) return;
      const delay = backoffDelay(attempt, { baseMs: 1_000, maxMs: Math.max(1_000, this.config.pollIntervalS * 1_000), jitter: Math.random });
      this.log.info({ attempt, retryInMs: delay }, 'no release running yet; retrying');
      await this.sleep(delay, true);
    }
  }

  /** Polls with jitter; backs off with jitter on errors; never gives up. */
  private async watchLoop(): Promise<void> {
    let failures = 0;
    let pollError: string | null = null;
    while (!this.stopped) {
      const delay = failures === 0
        ? pollDelayMs(this.config.pollIntervalS, Math.random)
        : backoffDelay(failures, { baseMs: this.config.pollIntervalS * 1_000, maxMs: Math.max(60_000, this.config.pollIntervalS * 1_000), jitter: Math.random });
      await this.sleep(delay, true);
      if (this.stopped) return;
      try {
        await this.serial(() => this.tick());
        failures = 0;
        // The store answers again: the poll failure it reported is over (unless something newer replaced it).
        if (pollError !== null && this.lastError === pollError) {
          this.lastError = null;
          this.changed();
        }
        pollError = null;
      } catch (err) {
        failures += 1;
        this.fail(err, 'following the channel failed; the running app keeps serving');
        pollError = this.lastError;
      }
      if (Date.now() - this.reportedAtMs >= REPORT_HEARTBEAT_MS) this.changed();
    }
  }

  /** One round: roll back a crash-looping young release, or read the channel and apply its decision. True when in the desired state. */
  private async tick(): Promise<boolean> {
    if (this.stopped || this.termination) return true;
    if (this.rollbackWanted) {
      this.rollbackWanted = false;
      await this.rollBackCrashLoop();
      return true;
    }
    const channel = await this.readChannel();
    if (!channel) return false;
    const identity = this.identity as Identity;
    const running = this.runner?.release ?? null;
    const decision = decideRelease({ channel, instanceId: identity.instanceId, now: new Date(), state: this.state as LocalState, running: running?.id ?? null });
    this.desired = decision.release;
    if (decision.release === running?.id) return true;
    const failed = (this.state as LocalState).failed[decision.release];
    if (failed && failed.generation === channel.generation) {
      this.lastError = `release ${decision.release} failed here (${failed.reason}); not retried until the channel changes`;
      return false;
    }
    this.log.info({ release: decision.release, running: running?.id ?? null, generation: channel.generation, reason: decision.reason }, 'applying release');
    return this.apply(decision.release, channel.generation);
  }

  /** The channel from the first source that answers; a 304 reuses what that source said before. Null when no source has one. */
  private async readChannel(): Promise<Channel | null> {
    const role = (this.identity as Identity).role;
    const errors: string[] = [];
    for (const store of this.stores) {
      const cached = this.channels.get(store.name);
      try {
        const read = await store.getChannel(role, cached?.etag ?? null);
        this.metrics.channelPolls.inc({ result: read.kind });
        if (read.kind === 'not-modified' && cached) return this.useChannel(cached.channel);
        if (read.kind === 'found') {
          this.channels.set(store.name, { channel: read.channel, etag: read.etag });
          return this.useChannel(read.channel);
        }
        errors.push(`${store.name}: no channel for role ${role}`);
      } catch (err) {
        this.metrics.channelPolls.inc({ result: 'error' });
        errors.push(`${store.name}: ${describeError(err)}`);
        this.log.warn({ source: store.name, err: describeError(err) }, 'channel read failed; trying the next source');
      }
    }
    if (errors.every((e) => e.includes('no channel for role'))) {
      this.lastError = errors.join('; ');
      this.changed();
      return null;
    }
    throw new StoreError(`no source gave a channel for role ${role}: ${errors.join('; ')}`);
  }

  private useChannel(channel: Channel): Channel {
    if (this.generation !== channel.generation) {
      this.generation = channel.generation;
      this.changed();
    }
    return channel;
  }

  // ---- applying a release -------------------------------------------------------------

  /** Fetch (the old app serves meanwhile), then start, reload or switch. True when `id` runs healthy. */
  private async apply(id: string, generation: number): Promise<boolean> {
    // Named as what failed: a refused or unreachable release is not a channel problem.
    const target = await this.fetch(id).catch((err: unknown) => {
      throw new HerdError(`cannot fetch release ${id}`, { cause: err });
    });
    if (this.stopped) return true;
    const runner = this.runner as ReleaseRunner;
    const running = runner.release;
    const plan = planApply(running?.manifest ?? null, target.manifest);
    switch (plan.kind) {
      case 'none':
        return true;
      case 'start':
        return this.startRelease(target, generation);
      case 'reload':
        return this.reloadRelease(running as InstalledRelease, target, plan.signal, generation);
      case 'restart':
        return this.switchRelease(running as InstalledRelease, target, generation);
    }
  }

  private async fetch(id: string): Promise<InstalledRelease> {
    const before = this.phase;
    this.phase = this.runner?.release ? before : 'fetching';
    this.changed();
    let lastErr: unknown;
    for (const store of this.stores) {
      try {
        const result = await fetchRelease({
          store, dataDir: this.dataDir, role: (this.identity as Identity).role, releaseId: id, limits: this.config.limits, log: this.input.log,
          trustedKeys: this.config.trustedKeys,
          onBytes: (n) => this.metrics.fetchBytes.inc(n),
        });
        this.metrics.fetches.inc({ result: result.fetched ? 'fetched' : 'cached' });
        return result.release;
      } catch (err) {
        this.metrics.fetches.inc({ result: 'error' });
        lastErr = err;
        this.log.warn({ source: store.name, release: id, err: describeError(err) }, 'fetch failed; trying the next source');
      }
    }
    throw lastErr;
  }

  /** Config-only change: the new config goes in place atomically (the `current` swap) and the app is signalled. */
  private async reloadRelease(running: InstalledRelease, target: InstalledRelease, signal: Parameters<ReleaseRunner['reload']>[1], generation: number): Promise<boolean> {
    const runner = this.runner as ReleaseRunner;
    await this.dataDir.setCurrent(target.id);
    if (!runner.reload(target, signal)) {
      this.log.warn({ release: target.id }, 'app not running; restarting instead of reloading');
      return this.switchRelease(running, target, generation);
    }
    await this.sleep(500, false);
    if (await runner.probe()) {
      await this.succeeded(target, running);
      return true;
    }
    const reason = `app not healthy after reloading to release ${target.id}`;
    await this.recordFailure(target.id, reason, generation);
    await this.dataDir.setCurrent(running.id);
    runner.reload(running, signal);
    this.lastError = `${reason}; went back to ${running.id}`;
    this.changed();
    return false;
  }

  /** Code change: drain, stop the old app, switch `current`, start the new one; go back on failure. */
  private async switchRelease(running: InstalledRelease, target: InstalledRelease, generation: number): Promise<boolean> {
    const runner = this.runner as ReleaseRunner;
    await this.drain();
    if (this.stopped) return true;
    await runner.stop();
    this.draining = false;
    this.metrics.draining.set(0);
    if (await this.startRelease(target, generation, running)) return true;
    if (this.stopped) return true;
    this.log.warn({ from: target.id, to: running.id }, 'going back to the release that ran before');
    await this.dataDir.setCurrent(running.id);
    const gate = await runner.start(running);
    this.phase = gate.healthy ? 'running' : 'failed';
    this.metrics.setRelease(gate.healthy ? running.id : null);
    this.lastError = `release ${target.id} failed (${(this.state as LocalState).failed[target.id]?.reason ?? 'health gate'}); back on ${running.id}`;
    this.changed();
    return false;
  }

  /** /healthz turns 503 and stays so for drainS, so the load balancer stops sending first. */
  private async drain(): Promise<void> {
    this.draining = true;
    this.metrics.draining.set(1);
    this.changed();
    this.log.info({ drainS: this.config.drainS }, 'draining');
    await this.sleep(this.config.drainS * 1000, false);
  }

  /** current → start → health gate; records last-known-good or the failure. */
  private async startRelease(release: InstalledRelease, generation: number | null, previous: InstalledRelease | null = null): Promise<boolean> {
    const runner = this.runner as ReleaseRunner;
    this.phase = 'starting';
    await this.dataDir.setCurrent(release.id);
    this.changed();
    const gate = await runner.start(release);
    if (this.stopped) return true;
    if (gate.healthy) {
      await this.succeeded(release, previous);
      return true;
    }
    this.phase = 'failed';
    await this.recordFailure(release.id, gate.reason, generation);
    this.log.error({ release: release.id, reason: gate.reason }, 'release failed its health gate; not retried until the channel changes');
    return false;
  }

  private async succeeded(release: InstalledRelease, previous: InstalledRelease | null): Promise<void> {
    this.phase = 'running';
    this.lastError = null;
    this.previous = previous;
    this.switchedAtMs = previous ? Date.now() : null;
    await this.saveState(withLastKnownGood(this.state as LocalState, release.id));
    this.metrics.setRelease(release.id);
    this.log.info({ release: release.id, pid: this.runner?.pid }, 'release running and healthy');
    this.changed();
    await pruneDataDir({ dataDir: this.dataDir, keep: this.config.keepReleases, protect: [release.id, previous?.id ?? null, this.state?.lastKnownGood ?? null], log: this.input.log });
  }

  private async recordFailure(id: string, reason: string, generation: number | null): Promise<void> {
    await this.saveState(withFailure(this.state as LocalState, id, { reason, generation }));
    this.lastError = `release ${id} failed: ${reason}`;
    this.changed();
  }

  /** A young release crash-loops: record it as failed and start the one that ran before. */
  private async rollBackCrashLoop(): Promise<void> {
    const runner = this.runner as ReleaseRunner;
    const bad = runner.release;
    const back = this.previous;
    if (!bad || !back || runner.state !== 'crash-loop') return;
    this.log.error({ release: bad.id, back: back.id }, 'release crash-loops; going back to the release that ran before');
    await this.recordFailure(bad.id, `crash loop (${runner.lastError ?? 'exited repeatedly'})`, this.generation);
    await runner.stop();
    this.previous = null;
    this.switchedAtMs = null;
    await this.dataDir.setCurrent(back.id);
    const gate = await runner.start(back);
    if (gate.healthy) await this.saveState(withLastKnownGood(this.state as LocalState, back.id));
    this.phase = gate.healthy ? 'running' : 'failed';
    this.metrics.setRelease(gate.healthy ? back.id : null);
    this.lastError = `release ${bad.id} crash-looped; back on ${back.id}`;
    this.changed();
  }

  /** Termination notices come from instance metadata, so only an imds identity watches for them. */
  private watchNotices(): void {
    if (!this.imds) return;
    this.stopNoticeWatch = watchTermination({
      imds: this.imds, intervalMs: this.config.noticePollS * 1000, log: this.input.log,
      onNotice: (notice) => void this.serial(() => this.terminate(describeNotice(notice))),
    });
  }

  /** The instance is going: drain so the load balancer stops sending, then stop the app gracefully. The agent stays up. */
  private async terminate(reason: string): Promise<void> {
    if (this.stopped || this.termination) return;
    this.termination = reason;
    this.log.warn({ reason }, 'instance terminating: draining and stopping the app');
    await this.drain();
    await this.runner?.stop();
    this.phase = 'stopped';
    this.changed();
  }

  /** Every source down (or the target failed): run the last release that was healthy here. */
  private async runLastKnownGood(): Promise<boolean> {
    const id = this.state?.lastKnownGood;
    if (!id || this.runner?.release) return false;
    const release = await this.dataDir.readRelease(id).catch(() => null);
    if (!release) return false;
    if (this.config.trustedKeys.length > 0) {
      try {
        // With keys, even what is on disk runs only with a good signature beside it.
        await checkInstalledSignature({
          store: this.stores[0] as ObjectStore, role: (this.identity as Identity).role, release,
          trusted: parseTrustedKeys(this.config.trustedKeys), log: this.input.log,
        });
      } catch (err) {
        this.fail(err, `last-known-good release ${id} cannot be verified; not starting it`);
        return false;
      }
    }
    this.log.warn({ release: id }, 'starting the last-known-good release from the data directory');
    return this.startRelease(release, null);
  }

  // ---- parts built from config ------------------------------------------------------------

  private buildStores(config: AgentConfig): ObjectStore[] {
    return config.sources.map((source) => new ObjectStore({ source, log: this.input.log }));
  }

  private startServer() {
    return startHealthServer({
      port: this.config.healthPort, host: this.config.healthHost, metrics: this.metrics, log: this.input.log,
      isHealthy: () => this.isHealthy(),
      status: () => this.status(),
    });
  }

  private async buildRunner(): Promise<ReleaseRunner> {
    const user = await resolveAppUser({ appUser: this.config.appUser, agentUid: process.getuid?.() ?? null, dataDir: this.config.dataDir });
    return new ReleaseRunner({
      identity: this.identity as Identity,
      ...(this.config.appPort !== undefined ? { appPort: this.config.appPort } : {}),
      ...(user ? { user } : {}),
      configDir: join(this.dataDir.currentLink, 'config'),
      appRecordFile: join(this.dataDir.root, 'app.pid'),
      baseEnv: this.input.baseEnv, metrics: this.metrics, log: this.input.log,
      onChange: () => this.onRunnerChange(),
    });
  }

  /**
   * The config file changed: build the agent's parts anew from the new config (stores,
   * health server, identity, app settings) rather than patching the old ones. An invalid
   * file is logged and ignored: the running config stays.
   */
  private async reconfigure(): Promise<void> {
    let next: AgentConfig;
    try {
      next = (this.input.reloadConfig as () => AgentConfig)();
    } catch (err) {
      this.fail(err, 'the changed config file is invalid; keeping the running config');
      return;
    }
    const prev = this.config;
    if (JSON.stringify(prev) === JSON.stringify(next)) return;
    this.config = next;
    this.stores = this.buildStores(next);
    this.channels.clear();
    if (prev.healthPort !== next.healthPort || prev.healthHost !== next.healthHost) {
      await this.server?.close();
      this.server = await this.startServer();
    }
    if (prev.dataDir !== next.dataDir) {
      this.dataDir = new DataDir({ root: next.dataDir, log: this.input.log });
      await this.dataDir.init();
      this.state = await this.dataDir.readState();
    }
    const identityChanged = JSON.stringify(prev.identity) !== JSON.stringify(next.identity);
    if (identityChanged) {
      this.stopNoticeWatch?.();
      this.imds = null;
      this.identity = await this.resolveIdentityOrCached();
      this.watchNotices();
    }
    if (identityChanged || prev.appPort !== next.appPort || prev.appUser !== next.appUser || prev.dataDir !== next.dataDir) {
      const running = this.runner?.release ?? null;
      // Build (and look up appUser) before stopping anything: a bad new setting must not
      // leave the instance without its app.
      let next: ReleaseRunner;
      try {
        next = await this.buildRunner();
      } catch (err) {
        this.fail(err, 'the changed config cannot be applied; the app keeps running as before');
        return;
      }
      await this.runner?.stop();
      this.runner = next;
      if (running && !identityChanged) await this.startRelease(running, this.generation);
    }
    this.log.info({ sources: this.stores.map((s) => s.name), healthPort: this.server?.port }, 'config reloaded');
    this.changed();
    this.wakeAll();
  }

  /** One metadata client (and its token) for identity and termination notices. */
  private metadataClient(): ImdsClient | null {
    const config = this.config.identity;
    if (config.provider !== 'imds') return null;
    this.imds ??= new ImdsClient({ log: this.input.log, ...(config.endpoint ? { endpoint: config.endpoint } : {}), timeoutMs: config.timeoutMs });
    return this.imds;
  }

  private async resolveIdentityOrCached(): Promise<Identity> {
    const file = join(this.config.dataDir, 'identity.json');
    for (let attempt = 1; ; attempt++) {
      try {
        const identity = await resolveIdentity({
          config: this.config.identity, log: this.input.log, ...(this.input.makeEc2 ? { makeEc2: this.input.makeEc2 } : {}),
          ...(this.metadataClient() ? { imds: this.metadataClient() as ImdsClient } : {}),
        });
        await writeFileAtomic(file, `${JSON.stringify(identity)}\n`).catch(() => {});
        return identity;
      } catch (err) {
        if (!(err instanceof IdentityError) || attempt >= 3) {
          // An instance's identity does not change: what it was told before still holds.
          const cached = await readFile(file, 'utf8').then((t) => JSON.parse(t) as Identity).catch(() => null);
          if (cached && err instanceof IdentityError) {
            this.log.warn({ err: describeError(err) }, 'metadata service unavailable; using the identity cached in the data directory');
            return cached;
          }
          throw err;
        }
        await this.sleep(backoffDelay(attempt, { baseMs: 500, maxMs: 4_000, jitter: Math.random }), false);
      }
    }
  }

  // ---- bookkeeping --------------------------------------------------------------------------

  private onRunnerChange(): void {
    const runner = this.runner;
    if (runner && shouldRollBackCrashLoop({
      crashLoop: runner.state === 'crash-loop', hasPrevious: this.previous !== null,
      switchedAtMs: this.switchedAtMs, nowMs: Date.now(), windowMs: CRASH_LOOP_WINDOW_MS,
    }) && !this.rollbackWanted) {
      this.rollbackWanted = true;
      this.wakeAll();
    }
    this.changed();
  }

  private async saveState(state: LocalState): Promise<void> {
    this.state = state;
    await this.dataDir.writeState(state).catch((err) => this.fail(err, 'cannot write state.json'));
  }

  private fail(err: unknown, what: string): void {
    this.lastError = `${what}: ${describeError(err)}`;
    this.log.error({ err: describeError(err) }, what);
    this.changed();
  }

  /** Runs `fn` after everything queued before it: applies, reconfigurations and rollbacks never interleave. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Sleeps; `wakeable` sleeps end early on a nudge (config change, crash loop); every sleep ends on stop. */
  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => { clearTimeout(timer); this.sleepers.delete(wake); resolve(); };
      const timer = setTimeout(wake, ms);
      this.sleepers.set(wake, wakeable);
    });
  }

  private wakeAll(): void {
    for (const [wake, wakeable] of [...this.sleepers]) if (this.stopped || wakeable) wake();
  }

  /** Something in /status changed: refresh the instance report soon (debounced, coalesced, best effort). */
  private changed(): void {
    if (this.reportTimer) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = null;
      void this.writeReport();
    }, REPORT_DEBOUNCE_MS);
  }

  private async writeReport(): Promise<void> {
    if (!this.identity) return;
    if (this.reporting) {
      this.reportAgain = true;
      return;
    }
    this.reporting = (async () => {
      do {
        this.reportAgain = false;
        this.reportedAtMs = Date.now();
        const report = this.report();
        for (const store of this.stores) {
          try {
            await store.putReport(report);
            break;
          } catch (err) {
            this.log.warn({ source: store.name, err: describeError(err) }, 'cannot write the instance report');
          }
        }
      } while (this.reportAgain);
    })().finally(() => { this.reporting = null; });
    await this.reporting;
  }

  private report(): InstanceReport {
    const identity = this.identity as Identity;
    const s = this.status();
    return {
      schema: INSTANCE_SCHEMA,
      instanceId: identity.instanceId, role: identity.role, az: identity.az, region: identity.region,
      release: (s.release as string | null), desired: this.desired,
      state: this.instanceState(), healthy: s.healthy as boolean, lastError: (s.lastError as string | null),
      failedReleases: s.failedReleases as string[], agentVersion: this.input.version, updatedAt: new Date().toISOString(),
    };
  }
}
