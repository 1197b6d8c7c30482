// The runner: the one module that knows every other. Boot path: identity, health server,
// data directory, channel → decision → fetch (sources in order) → current → app → health
// gate, with last-known-good when every source is down. It never exits on its own for a
// fault of the store, the metadata service or the app: it records, reports and retries.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { AgentConfig } from './config.ts';
import { lookupUser, needsUserSwitch } from './app-user.ts';
import { describeError, IdentityError, StoreError } from './errors.ts';
import { createMetrics, type AgentMetrics } from './health/metrics.ts';
import { startHealthServer } from './health/server.ts';
import { resolveIdentity } from './identity/resolve.ts';
import type { Identity } from './identity/types.ts';
import type { Logger } from './log.ts';
import { writeFileAtomic } from './releases/atomic.ts';
import { DataDir, type InstalledRelease } from './releases/data-dir.ts';
import { fetchRelease } from './releases/fetch-release.ts';
import { withFailure, withLastKnownGood, type LocalState } from './releases/state.ts';
import { decideRelease } from './rollout/decide.ts';
import { ObjectStore } from './store/object-store.ts';
import { INSTANCE_SCHEMA, type InstanceReport, type InstanceState } from './store/schemas.ts';
import { backoffDelay } from './supervisor/health-check.ts';
import { ReleaseRunner } from './supervisor/release-runner.ts';

export interface AgentInput {
  config: AgentConfig;
  log: Logger;
  version: string;
  /** Host environment the app inherits (PATH, LANG, ...), chosen by main.ts. */
  baseEnv: Record<string, string>;
  makeEc2?: (region: string) => EC2Client;
}

type Phase = 'booting' | 'fetching' | 'starting' | 'running' | 'failed' | 'stopping' | 'stopped';

interface Target { release: InstalledRelease; generation: number | null }

export class Agent {
  private readonly config: AgentConfig;
  private readonly log: Logger;
  private readonly metrics: AgentMetrics;
  private readonly dataDir: DataDir;
  private readonly stores: ObjectStore[];
  private identity: Identity | null = null;
  private runner: ReleaseRunner | null = null;
  private server: { port: number; close(): Promise<void> } | null = null;
  private state: LocalState | null = null;
  private phase: Phase = 'booting';
  private desired: string | null = null;
  private lastError: string | null = null;
  private draining = false;
  private stopped = false;
  private wake: (() => void) | null = null;
  private reporting: Promise<void> | null = null;
  private reportAgain = false;
  private readonly startedAt = new Date();

  constructor(private readonly input: AgentInput) {
    this.config = input.config;
    this.log = input.log.child({ module: 'agent' });
    this.metrics = createMetrics();
    this.dataDir = new DataDir({ root: this.config.dataDir, log: input.log });
    this.stores = this.config.sources.map((source) => new ObjectStore({ source, log: input.log }));
  }

  /** The health port actually bound (useful with port 0 in tests). */
  get healthPort(): number | null {
    return this.server?.port ?? null;
  }

  /** Boots and returns once a release runs (or the agent is stopped); retries until then. */
  async start(): Promise<void> {
    const user = needsUserSwitch({ agentUid: process.getuid?.() ?? null, appUser: this.config.appUser })
      ? await lookupUser(this.config.appUser as string) : undefined;
    await this.dataDir.init();
    this.state = await this.dataDir.readState();
    this.server = await startHealthServer({
      port: this.config.healthPort, host: this.config.healthHost, metrics: this.metrics, log: this.input.log,
      isHealthy: () => !this.draining && (this.runner?.healthy ?? false),
      status: () => this.status(),
    });
    this.identity = await this.resolveIdentityOrCached();
    this.runner = new ReleaseRunner({
      identity: this.identity,
      ...(this.config.appPort !== undefined ? { appPort: this.config.appPort } : {}),
      ...(user ? { user } : {}),
      baseEnv: this.input.baseEnv, metrics: this.metrics, log: this.input.log,
      onChange: () => this.changed(),
    });
    this.log.info({ ...this.identity, sources: this.stores.map((s) => s.name), healthPort: this.server.port }, 'agent starting');
    await this.bootLoop();
  }

  /** SIGTERM: turn unhealthy, stop the app gracefully, write a last report. */
  async stop(reason: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wake?.();
    this.log.info({ reason }, 'agent stopping');
    this.draining = true;
    this.phase = 'stopping';
    await this.runner?.stop();
    this.phase = 'stopped';
    await this.writeReport();
    await this.reporting;
    await this.server?.close();
  }

  status(): Record<string, unknown> {
    const runner = this.runner;
    return {
      identity: this.identity,
      state: this.instanceState(),
      healthy: !this.draining && (runner?.healthy ?? false),
      draining: this.draining,
      release: runner?.release?.id ?? null,
      desired: this.desired,
      pid: runner?.pid ?? null,
      restarts: runner?.restarts ?? 0,
      lastError: runner?.lastError ?? this.lastError,
      lastKnownGood: this.state?.lastKnownGood ?? null,
      failedReleases: Object.keys(this.state?.failed ?? {}),
      sources: this.stores.map((s) => s.name),
      agentVersion: this.input.version,
      startedAt: this.startedAt.toISOString(),
    };
  }

  private instanceState(): InstanceState {
    const runnerState = this.runner?.state;
    if (this.phase === 'running' && runnerState === 'crash-loop') return 'crash-loop';
    if (this.phase === 'running' && runnerState === 'starting') return 'starting';
    if (this.draining && this.phase !== 'stopped') return 'draining';
    return this.phase === 'running' ? 'running' : this.phase;
  }

  private async bootLoop(): Promise<void> {
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        const target = await this.resolveTarget();
        if (target && await this.runRelease(target)) return;
      } catch (err) {
        this.fail(err, 'cannot get the release to run from any source');
      }
      if (this.stopped) return;
      if (!this.runner?.release && await this.runLastKnownGood()) return;
      const delay = backoffDelay(attempt, { baseMs: 1_000, maxMs: Math.max(1_000, this.config.pollIntervalS * 1_000), jitter: Math.random });
      this.log.info({ attempt, retryInMs: delay }, 'no release running yet; retrying');
      await this.sleep(delay);
    }
  }

  /** Reads the channel from the first source that answers, decides, and fetches (sources in order). */
  private async resolveTarget(): Promise<Target | null> {
    const identity = this.identity as Identity;
    const errors: string[] = [];
    for (const [i, store] of this.stores.entries()) {
      let read;
      try {
        read = await store.getChannel(identity.role);
        this.metrics.channelPolls.inc({ result: read.kind });
      } catch (err) {
        this.metrics.channelPolls.inc({ result: 'error' });
        errors.push(`${store.name}: ${describeError(err)}`);
        this.log.warn({ source: store.name, err: describeError(err) }, 'channel read failed; trying the next source');
        continue;
      }
      if (read.kind !== 'found') {
        errors.push(`${store.name}: no channel for role ${identity.role}`);
        continue;
      }
      const { channel } = read;
      const decision = decideRelease({
        channel, instanceId: identity.instanceId, now: new Date(), state: this.state as LocalState, running: this.runner?.release?.id ?? null,
      });
      this.desired = decision.release;
      const failed = (this.state as LocalState).failed[decision.release];
      if (failed && failed.generation === channel.generation) {
        this.lastError = `release ${decision.release} failed here (${failed.reason}); waiting for the channel to change`;
        return null;
      }
      this.log.info({ release: decision.release, generation: channel.generation, reason: decision.reason }, 'decided release');
      const release = await this.fetchFrom([...this.stores.slice(i), ...this.stores.slice(0, i)], decision.release);
      return { release, generation: channel.generation };
    }
    throw new StoreError(`no source gave a channel for role ${identity.role}: ${errors.join('; ')}`);
  }

  private async fetchFrom(stores: ObjectStore[], releaseId: string): Promise<InstalledRelease> {
    this.phase = 'fetching';
    this.changed();
    let lastErr: unknown;
    for (const store of stores) {
      try {
        const result = await fetchRelease({
          store, dataDir: this.dataDir, role: (this.identity as Identity).role, releaseId, limits: this.config.limits, log: this.input.log,
          onBytes: (n) => this.metrics.fetchBytes.inc(n),
        });
        this.metrics.fetches.inc({ result: result.fetched ? 'fetched' : 'cached' });
        return result.release;
      } catch (err) {
        this.metrics.fetches.inc({ result: 'error' });
        lastErr = err;
        this.log.warn({ source: store.name, release: releaseId, err: describeError(err) }, 'fetch failed; trying the next source');
      }
    }
    throw lastErr;
  }

  /** current → start → health gate; records last-known-good or the failure. */
  private async runRelease(target: Target): Promise<boolean> {
    const { release } = target;
    const runner = this.runner as ReleaseRunner;
    this.phase = 'starting';
    this.desired = release.id;
    await this.dataDir.setCurrent(release.id);
    this.changed();
    const gate = await runner.start(release);
    if (this.stopped) return true;
    if (gate.healthy) {
      this.phase = 'running';
      this.lastError = null;
      await this.saveState(withLastKnownGood(this.state as LocalState, release.id));
      this.log.info({ release: release.id, pid: runner.pid }, 'release running and healthy');
      this.metrics.setRelease(release.id);
      this.changed();
      return true;
    }
    this.phase = 'failed';
    this.lastError = runner.lastError ?? gate.reason;
    await this.saveState(withFailure(this.state as LocalState, release.id, { reason: gate.reason, generation: target.generation }));
    this.log.error({ release: release.id, reason: gate.reason }, 'release failed its health gate; not retried until the channel changes');
    this.changed();
    return false;
  }

  /** Every source down (or the target failed): run the last release that was healthy here. */
  private async runLastKnownGood(): Promise<boolean> {
    const id = this.state?.lastKnownGood;
    if (!id || this.state?.failed[id]) return false;
    const release = await this.dataDir.readRelease(id).catch(() => null);
    if (!release) return false;
    this.log.warn({ release: id }, 'starting the last-known-good release from the data directory');
    return this.runRelease({ release, generation: null });
  }

  private async resolveIdentityOrCached(): Promise<Identity> {
    const file = join(this.config.dataDir, 'identity.json');
    for (let attempt = 1; ; attempt++) {
      try {
        const identity = await resolveIdentity({
          config: this.config.identity, log: this.input.log, ...(this.input.makeEc2 ? { makeEc2: this.input.makeEc2 } : {}),
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
        await this.sleep(backoffDelay(attempt, { baseMs: 500, maxMs: 4_000, jitter: Math.random }));
      }
    }
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

  /** Something in /status changed: refresh the instance report (coalesced, best effort). */
  private changed(): void {
    void this.writeReport();
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

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.wake = null; resolve(); }, ms);
      this.wake = () => { clearTimeout(timer); this.wake = null; resolve(); };
    });
  }
}
