// The composition root: builds the agent's parts, starts the health server, the loop and the
// watchers, and stops them. A changed config file builds a whole new set of parts and swaps
// it in, or is refused and the old set runs on untouched. Everything the agent does between
// start and stop happens in the loop's passes: observe, decide, act.
import { join } from 'node:path';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { systemClock, type Clock } from '../clock.ts';
import type { AgentConfig } from '../config.ts';
import { watchConfigFile } from '../config-watch.ts';
import { describeError } from '../errors.ts';
import { createMetrics, type AgentMetrics } from '../health/metrics.ts';
import { startHealthServer, type HealthServer } from '../health/server.ts';
import { describeNotice, watchTermination } from '../lifecycle/termination.ts';
import type { Logger } from '../log.ts';
import { pollDelayMs, retryDelayMs } from '../rollout/plan.ts';
import { emptyState } from '../releases/state.ts';
import { reapLeftoverApp } from '../supervisor/app-record.ts';
import { act } from './act.ts';
import { Conditions } from './conditions.ts';
import type { Context, Memory, Parts } from './context.ts';
import { decideStep } from './decide.ts';
import { ReconcileLoop, type PassOutcome } from './loop.ts';
import { observe } from './observe.ts';
import { passOutcome } from './outcome.ts';
import { buildParts } from './parts.ts';
import type { InstallBundle } from '../releases/fetch-release.ts';
import { Reporter } from './reporter.ts';
import { reportOf, statusOf, type AgentView } from './views.ts';

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
  clock?: Clock;
  /** How bundles are installed (the CLI's agent: in a child process); default in this process. */
  install?: InstallBundle;
}

export class Agent {
  private readonly input: AgentInput;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly metrics: AgentMetrics = createMetrics();
  private readonly conditions: Conditions;
  private readonly memory: Memory = {
    local: emptyState(), previous: null, channel: null, channelTrust: { record: null, last: null, refused: false },
    fetchFailed: null, termination: null, launchHook: null, failureCheck: null,
  };
  private readonly reporter: Reporter;
  private readonly loop: ReconcileLoop;
  private readonly startedAt = new Date();
  private parts: Parts | null = null;
  private server: HealthServer | null = null;
  private stopNotices: (() => void) | null = null;
  private closeWatcher: (() => Promise<void>) | null = null;
  private firstRun: () => void = () => {};
  /** The release this instance should run, as the last pass decided. */
  private desired: string | null = null;

  constructor(input: AgentInput) {
    this.input = input;
    this.log = input.log.child({ module: 'agent' });
    this.clock = input.clock ?? systemClock;
    this.conditions = new Conditions(() => this.reporter.changed());
    this.reporter = new Reporter({
      build: () => (this.parts ? reportOf(this.view()) : null),
      write: (report) => (this.parts as Parts).sources.write('instance report write', (store) => store.putReport(report)),
      heartbeatMs: () => this.config.reportHeartbeatS * 1000,
      log: this.log, now: () => this.clock.now(),
    });
    this.loop = new ReconcileLoop({
      pass: (poll) => this.pass(poll),
      pollDelayMs: () => pollDelayMs(this.config.pollIntervalS, this.clock.random),
      backoffMs: (failures) => retryDelayMs({
        failures, serving: this.parts?.runner.release != null, pollIntervalS: this.config.pollIntervalS, jitter: this.clock.random,
      }),
      clock: this.clock, log: this.log,
    });
  }

  get healthPort(): number | null {
    return this.server?.port ?? null;
  }

  private get config(): AgentConfig {
    return this.parts?.config ?? this.input.config;
  }

  /** Boots: returns once the first release runs (or the agent is stopped); then keeps following the channel. */
  async start(): Promise<void> {
    const config = this.input.config;
    await reapLeftoverApp({ file: join(config.dataDir, 'app.pid'), releasesDir: join(config.dataDir, 'releases'), log: this.log });
    this.server = await this.startServer(config);
    const parts = await buildParts(this.partsInput(config));
    if (this.loop.stopping.aborted) return;
    this.memory.local = await parts.dataDir.readState();
    this.memory.channelTrust.record = await parts.dataDir.readChannelTrust();
    this.parts = parts;
    this.log.info({ ...parts.identity, sources: parts.sources.names, healthPort: this.server.port }, 'agent starting');
    this.watchNotices();
    this.holdLaunchHook(parts);
    if (this.input.configFile && this.input.reloadConfig) {
      this.closeWatcher = watchConfigFile({ file: this.input.configFile, log: this.input.log, onChange: () => void this.loop.exclusive(() => this.reconfigure()) });
    }
    const running = new Promise<void>((resolve) => { this.firstRun = resolve; });
    this.loop.start();
    await Promise.race([running, new Promise<void>((resolve) => this.loop.stopping.addEventListener('abort', () => resolve(), { once: true }))]);
  }

  /** SIGTERM: turn unhealthy, stop the app gracefully, write a last report. */
  async stop(reason: string): Promise<void> {
    if (this.conditions.is('Stopping')) return;
    this.log.info({ reason }, 'agent stopping');
    this.conditions.set('Stopping', true, 'Stopping', reason);
    this.stopNotices?.();
    await this.closeWatcher?.();
    // Stopping the app first ends a health gate or restart in flight, so the pass under way
    // finishes; the second stop catches an app that pass started meanwhile.
    const stopping = this.loop.stop();
    await this.parts?.runner.stop();
    await stopping;
    await this.loop.exclusive(async () => { await this.parts?.runner.stop(); });
    this.conditions.set('Stopping', true, 'Stopped', reason);
    await this.reporter.close();
    await this.server?.close();
  }

  status(): Record<string, unknown> {
    return statusOf(this.view());
  }

  private view(): AgentView {
    return {
      parts: this.parts, conditions: this.conditions, memory: this.memory, desired: this.desired,
      version: this.input.version, startedAt: this.startedAt,
    };
  }

  /** One pass of the loop: observe, decide, act. */
  private async pass(poll: boolean): Promise<PassOutcome> {
    const ctx = this.context();
    const observed = await observe(ctx, poll);
    const step = decideStep(observed);
    if (step.desired !== null && step.desired !== this.desired) {
      this.desired = step.desired;
      this.reporter.changed();
    }
    this.log.debug({ step }, 'step');
    const acted = await act(ctx, step);
    if (ctx.parts.runner.release && ctx.parts.runner.healthy) this.firstRun();
    return passOutcome({ step, acted, channel: observed.channel.kind, pollIntervalS: this.config.pollIntervalS, jitter: this.clock.random });
  }

  private context(): Context {
    return {
      parts: this.parts as Parts, memory: this.memory, conditions: this.conditions, metrics: this.metrics,
      clock: this.clock, log: this.input.log, stopping: this.loop.stopping,
      ...(this.input.install ? { install: this.input.install } : {}),
    };
  }

  private partsInput(config: AgentConfig, prev?: Parts) {
    return {
      config, ...(prev ? { prev } : {}), log: this.input.log, metrics: this.metrics, clock: this.clock, baseEnv: this.input.baseEnv,
      ...(this.input.makeEc2 ? { makeEc2: this.input.makeEc2 } : {}),
      onRunnerChange: () => this.onRunnerChange(), signal: this.loop.stopping,
    };
  }

  private onRunnerChange(): void {
    this.reporter.changed();
    if (this.parts?.runner.state === 'crash-loop') this.loop.nudge();
  }

  private startServer(config: AgentConfig): Promise<HealthServer> {
    return startHealthServer({
      port: config.healthPort, host: config.healthHost, metrics: this.metrics, log: this.input.log,
      isHealthy: () => this.status().healthy as boolean,
      status: () => this.status(),
    });
  }

  /** With a launch hook, the group waits for this instance: heartbeats keep a slow first boot within the hook's timeout until the loop completes it. */
  private holdLaunchHook(parts: Parts): void {
    const hook = parts.autoScaling?.launchHook;
    if (!hook) return;
    this.memory.launchHook = 'pending';
    void (parts.autoScaling as NonNullable<Parts['autoScaling']>).keepAlive(hook, {
      clock: this.clock, signal: this.loop.stopping, pending: () => this.memory.launchHook === 'pending',
    });
  }

  /** Termination notices come from instance metadata, so only an imds identity watches for them. */
  private watchNotices(): void {
    const imds = this.parts?.imds;
    if (!imds) return;
    this.stopNotices = watchTermination({
      imds, intervalMs: this.config.noticePollS * 1000, log: this.input.log,
      onNotice: (notice) => {
        this.memory.termination ??= { reason: describeNotice(notice), kind: notice.kind, done: false };
        this.loop.nudge();
      },
    });
  }

  /**
   * The config file changed: build a whole new set of parts (and a health server when its
   * port moved), then swap. An invalid file, or one whose parts cannot be built, is refused
   * and the old set runs on; saving it again tries again. When the app's settings changed,
   * the old app stops here and the next pass starts what should run under the new ones.
   */
  private async reconfigure(): Promise<void> {
    if (this.loop.stopping.aborted || !this.parts) return;
    const old = this.parts;
    let next: AgentConfig;
    try {
      next = (this.input.reloadConfig as () => AgentConfig)();
    } catch (err) {
      return this.refuse(err, 'the changed config file is invalid; keeping the running config');
    }
    if (JSON.stringify(old.config) === JSON.stringify(next)) return this.conditions.set('ConfigApplied', true, 'Loaded');
    const moveServer = old.config.healthPort !== next.healthPort || old.config.healthHost !== next.healthHost;
    let parts: Parts;
    let server: HealthServer | null = null;
    try {
      server = moveServer ? await this.startServer(next) : null;
      parts = await buildParts(this.partsInput(next, old));
    } catch (err) {
      await server?.close();
      return this.refuse(err, 'the changed config cannot be applied; the app keeps running as before');
    }
    const running = old.runner.release;
    if (parts.runner !== old.runner) await old.runner.stop();
    if (parts.dataDir !== old.dataDir) {
      this.memory.local = await parts.dataDir.readState();
      this.memory.channelTrust.record = await parts.dataDir.readChannelTrust();
      this.memory.previous = null;
    }
    this.memory.channel = null;
    this.memory.channelTrust = { ...this.memory.channelTrust, last: null, refused: false };
    this.parts = parts;
    if (server) {
      const oldServer = this.server;
      this.server = server;
      await oldServer?.close();
    }
    if (parts.imds !== old.imds || old.config.noticePollS !== next.noticePollS) {
      this.stopNotices?.();
      this.watchNotices();
    }
    this.input.log.level = next.logLevel;
    this.conditions.set('ConfigApplied', true, 'Loaded');
    this.log.info({ sources: parts.sources.names, healthPort: this.server?.port }, 'config reloaded');
    this.reporter.changed();
    this.loop.nudge();
  }

  private refuse(err: unknown, what: string): void {
    this.log.error({ err: describeError(err) }, what);
    this.conditions.set('ConfigApplied', false, 'Refused', `${what}: ${describeError(err)}`);
  }
}
