// Runs one installed release: builds the app's environment, starts it, gates on its
// health check, keeps probing it, and restarts it with backoff when it exits on its own.
// Knows nothing of stores or channels; the agent tells it what to run.
import type { AgentMetrics } from '../health/metrics.ts';
import type { Identity } from '../identity/types.ts';
import type { Logger } from '../log.ts';
import type { InstalledRelease } from '../releases/data-dir.ts';
import type { SignalName } from '../store/schemas.ts';
import { describeError } from '../errors.ts';
import { startApp, describeExit, type AppHandle } from './app-process.ts';
import { forgetApp, recordApp } from './app-record.ts';
import { probeHealth, waitHealthy } from './health-check.ts';
import { planRestart, STABLE_AFTER_MS } from './restart-policy.ts';

export interface ReleaseRunnerInput {
  identity: Identity;
  /** Overrides the release's run.port (several instances on one host). */
  appPort?: number;
  /** Who the app runs as when the agent is root. */
  user?: { uid: number; gid: number };
  /** The part of the host environment the app inherits (PATH, LANG, TZ...). */
  baseEnv: Record<string, string>;
  /**
   * HERD_CONFIG_DIR as the app sees it: a path through the `current` link, so a
   * config-only change swaps `current` and signals the app, which then reads the new files.
   */
  configDir: string;
  metrics: AgentMetrics;
  log: Logger;
  /** Called whenever health or state changes, to refresh /status and the report. */
  onChange: () => void;
  /** Where the running app's pid is recorded, for the next run to stop it after a crash of the agent. */
  appRecordFile?: string;
  /** How often a running app's health is probed. */
  probeIntervalMs?: number;
  /** Jitter for restart delays; Math.random unless given. */
  random?: () => number;
}

export type RunnerState = 'idle' | 'starting' | 'running' | 'crash-loop' | 'stopping' | 'stopped';

/** Pure: the environment the app sees. */
export function appEnvironment(input: { release: InstalledRelease; identity: Identity; port: number; baseEnv: Record<string, string>; configDir: string }): Record<string, string> {
  const { release, identity } = input;
  return {
    ...input.baseEnv,
    ...(release.manifest.run.env ?? {}),
    PORT: String(input.port),
    HERD_ROLE: identity.role,
    HERD_RELEASE: release.id,
    HERD_INSTANCE_ID: identity.instanceId,
    HERD_AZ: identity.az,
    HERD_REGION: identity.region,
    HERD_CONFIG_DIR: input.configDir,
  };
}

export class ReleaseRunner {
  state: RunnerState = 'idle';
  healthy = false;
  release: InstalledRelease | null = null;
  pid: number | null = null;
  /** The release whose code directory the app process was started in; a reload does not change it. */
  startedFrom: InstalledRelease | null = null;
  lastError: string | null = null;
  restarts = 0;
  private handle: AppHandle | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  /** Restarts since the app last ran stable: what makes a crash loop. */
  private streak = 0;
  /** The app whose health gate is being awaited: its exit is the gate's to report. */
  private gating: AppHandle | null = null;
  /** How each app that exited on its own went. */
  private readonly exits = new WeakMap<AppHandle, string>();
  private readonly random: () => number;
  private startedAt = 0;
  private readonly input: ReleaseRunnerInput;
  private readonly log: Logger;

  constructor(input: ReleaseRunnerInput) {
    this.input = input;
    this.log = input.log.child({ module: 'runner' });
    this.random = input.random ?? Math.random;
  }

  port(release: InstalledRelease): number {
    return this.input.appPort ?? release.manifest.run.port;
  }

  /** Starts `release` and waits for its health gate. Resolves with the outcome; never throws. */
  async start(release: InstalledRelease): Promise<{ healthy: boolean; reason: string }> {
    this.release = release;
    this.stopping = false;
    this.streak = 0;
    this.restarts = 0;
    this.set('starting');
    const gate = await this.launch(release);
    if (this.stopping || this.release !== release) return gate;
    if (!gate.healthy) {
      this.lastError = `release ${release.id} failed its health gate: ${gate.reason}`;
      await this.stop();
      return gate;
    }
    this.lastError = null;
    this.setHealthy(true);
    this.set('running');
    this.startProbing(this.handle as AppHandle);
    return gate;
  }

  /** Stops the app (stop signal, then SIGKILL after its timeout) and all timers. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.clearTimers();
    this.setHealthy(false);
    const handle = this.handle;
    if (handle) {
      this.set('stopping');
      const exit = await handle.stop().catch(() => null);
      this.log.info({ release: this.release?.id, exit }, 'app stopped');
    }
    this.handle = null;
    this.pid = null;
    this.startedFrom = null;
    if (this.input.appRecordFile) forgetApp(this.input.appRecordFile);
    // Nothing runs now: the agent must not take this release for the one serving.
    this.release = null;
    this.input.metrics.appUp.set(0);
    this.set('stopped');
  }

  /**
   * A config-only change: the app keeps running and gets `signal`; from now on it counts as
   * running `release` (same code). The caller has put the new config in place first.
   */
  reload(release: InstalledRelease, signal: SignalName): boolean {
    if (!this.handle || this.state !== 'running') return false;
    this.release = release;
    this.handle.signal(signal);
    this.log.info({ release: release.id, signal, pid: this.pid }, 'app signalled to reload its config');
    this.input.onChange();
    return true;
  }

  /** One health probe of what runs now. */
  async probe(): Promise<boolean> {
    const release = this.release;
    if (!release || !this.handle) return false;
    return (await probeHealth({ url: this.healthUrl(release), timeoutMs: 2_000 })).ok;
  }

  private async launch(release: InstalledRelease): Promise<{ healthy: boolean; reason: string }> {
    const run = release.manifest.run;
    const port = this.port(release);
    const handle = startApp({
      command: [...run.command],
      cwd: release.codeDir,
      env: appEnvironment({ release, identity: this.input.identity, port, baseEnv: this.input.baseEnv, configDir: this.input.configDir }),
      ...(this.input.user ?? {}),
      stopSignal: run.stopSignal ?? 'SIGTERM',
      stopTimeoutS: run.stopTimeoutS ?? 10,
      log: this.input.log.child({ release: release.id }),
    });
    this.handle = handle;
    this.startedFrom = release;
    this.pid = handle.pid || null;
    if (handle.pid && this.input.appRecordFile) recordApp(this.input.appRecordFile, handle.pid);
    this.startedAt = Date.now();
    this.gating = handle;
    this.input.metrics.appUp.set(handle.pid ? 1 : 0);
    const exited = handle.exited.then(
      (exit) => { this.onExit(handle, describeExit(exit), exit.deliberate); return exit; },
      (err: unknown) => { this.onExit(handle, describeError(err), false); throw err; },
    );
    exited.catch(() => {});
    const gate = await waitHealthy({ url: this.healthUrl(release), timeoutS: run.health.timeoutS, exited });
    if (this.gating === handle) this.gating = null;
    return gate;
  }

  private healthUrl(release: InstalledRelease): string {
    return `http://127.0.0.1:${this.port(release)}${release.manifest.run.health.path}`;
  }

  private startProbing(handle: AppHandle): void {
    const interval = this.input.probeIntervalMs ?? 2_000;
    const tick = async () => {
      const release = this.release;
      if (!release) return;
      const result = await probeHealth({ url: this.healthUrl(release), timeoutMs: Math.min(interval, 5_000) });
      if (this.stopping || this.handle !== handle || this.state === 'starting') return;
      if (result.ok !== this.healthy) {
        this.log.warn({ release: release.id, status: result.status, error: result.error }, result.ok ? 'app healthy again' : 'app health check failing');
        this.setHealthy(result.ok);
      }
      if (this.streak > 0 && result.ok && Date.now() - this.startedAt > STABLE_AFTER_MS) this.streak = 0;
      this.probeTimer = setTimeout(tick, interval);
    };
    this.probeTimer = setTimeout(tick, interval);
  }

  /** An exit we did not ask for: the gate in flight, if any, reports it; otherwise restart with backoff. */
  private onExit(handle: AppHandle, how: string, deliberate: boolean): void {
    if (!deliberate) this.exits.set(handle, how);
    if (deliberate || this.stopping || handle !== this.handle || this.gating === handle) return;
    this.handle = null;
    this.scheduleRestart(`app of release ${this.release?.id} exited on its own (${how})`);
  }

  /**
   * The one place a restart is planned, after an exit or a restart that did not get healthy.
   * It is counted when it happens (restart()), so the count never runs ahead of the app.
   */
  private scheduleRestart(why: string): void {
    const release = this.release;
    if (!release || this.stopping) return;
    this.clearTimers();
    this.pid = null;
    this.input.metrics.appUp.set(0);
    this.setHealthy(false);
    this.lastError = why;
    const plan = planRestart(this.streak, this.random);
    if (plan.crashLoop) this.set('crash-loop');
    this.log.error({ release: release.id, why, restarts: this.restarts, restartInMs: plan.delayMs }, 'app exited; restarting');
    this.restartTimer = setTimeout(() => void this.restart(), plan.delayMs);
    this.input.onChange();
  }

  private async restart(): Promise<void> {
    const release = this.release;
    if (this.stopping || !release) return;
    this.restarts += 1;
    this.streak += 1;
    this.input.metrics.appRestarts.inc();
    const gate = await this.launch(release);
    if (this.stopping || this.release !== release) return;
    if (gate.healthy) {
      this.lastError = null;
      this.setHealthy(true);
      this.set('running');
      this.startProbing(this.handle as AppHandle);
      return;
    }
    // Still up but not healthy in time: stop it before the next try, or two copies would run.
    const handle = this.handle;
    this.handle = null;
    const exit = handle ? this.exits.get(handle) : undefined;
    if (handle && exit === undefined) await handle.stop().catch(() => null);
    if (this.stopping || this.release !== release) return;
    this.scheduleRestart(exit !== undefined
      ? `app of release ${release.id} exited on its own (${exit})`
      : `restart of release ${release.id} not healthy: ${gate.reason}`);
  }

  private setHealthy(healthy: boolean): void {
    if (this.healthy === healthy) return;
    this.healthy = healthy;
    this.input.metrics.appHealthy.set(healthy ? 1 : 0);
    this.input.onChange();
  }

  private set(state: RunnerState): void {
    if (this.state === state) return;
    this.state = state;
    this.input.onChange();
  }

  private clearTimers(): void {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.probeTimer = null;
    this.restartTimer = null;
  }
}
