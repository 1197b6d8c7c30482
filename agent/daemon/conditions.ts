// The agent's state as a short list of typed conditions (as Kubernetes controllers keep them):
// each says whether it holds, why, and since when. /healthz, /status, the instance report and
// lastError are all derived from them and from what the runner says of the app, never set
// from the places that act.
import type { InstanceState } from '../store/schemas.ts';
import type { RunnerState } from '../supervisor/release-runner.ts';

export type ConditionType =
  /** A source answered with the channel (false: unreachable, or no channel yet). */
  | 'ChannelRead'
  /**
   * The channel read may be followed: with trustedKeys, signed by a trusted key, not older
   * than one trusted before, not expired (false: refused, the reason says why); NotRequired
   * without trustedKeys.
   */
  | 'ChannelTrusted'
  /** The release wanted is on disk (false: fetching, or its fetch failed). */
  | 'Fetched'
  /** The release wanted runs (false: starting, failed here, or went back to the one before). */
  | 'Applied'
  /** /healthz is held at 503 so the load balancer stops sending. */
  | 'Draining'
  /** A termination notice came: the instance is going. */
  | 'Terminating'
  /** The agent config file's last change was applied (false: refused, the old parts run on). */
  | 'ConfigApplied'
  /** The agent is stopping (reason Stopped once it has). */
  | 'Stopping';

export interface Condition {
  status: boolean;
  reason: string;
  /** What an operator should read; null when there is nothing to say. */
  message: string | null;
  /** When status or reason last changed. */
  since: string;
  /** Order of the last change of status, reason or message, across all conditions. */
  seq: number;
}

/** What the runner says of the app, read live. */
export interface AppView {
  release: string | null;
  state: RunnerState;
  healthy: boolean;
  lastError: string | null;
}

const INITIAL: Record<ConditionType, Pick<Condition, 'status' | 'reason'>> = {
  ChannelRead: { status: false, reason: 'NotYet' },
  ChannelTrusted: { status: false, reason: 'NotYet' },
  Fetched: { status: false, reason: 'NotYet' },
  Applied: { status: false, reason: 'NotYet' },
  Draining: { status: false, reason: 'Serving' },
  Terminating: { status: false, reason: 'NoNotice' },
  ConfigApplied: { status: true, reason: 'Loaded' },
  Stopping: { status: false, reason: 'Running' },
};

export class Conditions {
  private readonly all = new Map<ConditionType, Condition>();
  private readonly onChange: () => void;
  private readonly now: () => Date;
  private seq = 0;

  constructor(onChange: () => void, now: () => Date = () => new Date()) {
    this.onChange = onChange;
    this.now = now;
    for (const [type, c] of Object.entries(INITIAL)) this.all.set(type as ConditionType, { ...c, message: null, since: now().toISOString(), seq: 0 });
  }

  get(type: ConditionType): Condition {
    return this.all.get(type) as Condition;
  }

  is(type: ConditionType, reason?: string): boolean {
    const c = this.get(type);
    return reason === undefined ? c.status : c.reason === reason;
  }

  /** Sets a condition; reports a change only when something an operator sees changed. */
  set(type: ConditionType, status: boolean, reason: string, message: string | null = null): void {
    const old = this.get(type);
    if (old.status === status && old.reason === reason && old.message === message) return;
    const since = old.status === status && old.reason === reason ? old.since : this.now().toISOString();
    this.all.set(type, { status, reason, message, since, seq: ++this.seq });
    this.onChange();
  }

  list(): Array<Omit<Condition, 'seq'> & { type: ConditionType }> {
    return [...this.all].map(([type, { seq: _seq, ...c }]) => ({ type, ...c }));
  }
}

/** Pure: whether the load balancer should send traffic here. */
export function isHealthy(c: Conditions, app: AppView): boolean {
  return app.healthy && !c.is('Draining') && !c.is('Terminating') && !c.is('Stopping');
}

/** Pure: the one-word state of /status and the report. */
export function instanceState(c: Conditions, app: AppView): InstanceState {
  if (c.is('Stopping')) return c.is('Stopping', 'Stopped') ? 'stopped' : 'stopping';
  if (c.is('Terminating')) return c.is('Terminating', 'AppStopped') ? 'stopped' : 'draining';
  if (c.is('Draining')) return 'draining';
  if (app.state === 'crash-loop') return 'crash-loop';
  if (app.release) return app.state === 'starting' ? 'starting' : 'running';
  if (c.is('Applied', 'Starting')) return 'starting';
  if (c.is('Applied', 'Failed')) return 'failed';
  if (c.is('Fetched', 'Fetching')) return 'fetching';
  return 'booting';
}

/**
 * Pure: the error an operator should read, or null when all is well: of the conditions that
 * do not hold and say why (a refused config, a release that failed or went back, a failed
 * fetch, an unreadable or refused channel), the one that changed last; else what the app itself did.
 */
export function lastError(c: Conditions, app: AppView): string | null {
  const failing = (['ConfigApplied', 'Applied', 'Fetched', 'ChannelRead', 'ChannelTrusted'] as const)
    .map((type) => c.get(type)).filter((cond) => !cond.status && cond.message);
  const latest = failing.sort((a, b) => b.seq - a.seq)[0];
  return latest?.message ?? app.lastError;
}
