// What the loop's observer and executors share: the parts built from one config (swapped
// whole on a config change), what the agent remembers between passes, and its conditions.
import type { Clock } from '../clock.ts';
import type { AgentConfig } from '../config.ts';
import type { AgentMetrics } from '../health/metrics.ts';
import type { ImdsClient } from '../identity/imds-client.ts';
import type { AutoScalingHooks } from '../lifecycle/auto-scaling.ts';
import type { Identity } from '../identity/types.ts';
import type { Logger } from '../log.ts';
import type { DataDir } from '../releases/data-dir.ts';
import type { InstallBundle } from '../releases/fetch-release.ts';
import type { LocalState } from '../releases/state.ts';
import type { Judged, TrustRecord } from '../signing/channel-trust.ts';
import type { TrustedKey } from '../signing/keys.ts';
import type { Sources } from '../store/sources.ts';
import type { ReleaseRunner } from '../supervisor/release-runner.ts';
import type { Conditions } from './conditions.ts';
import type { ChannelView, FailureCheck } from './decide.ts';

/** Everything built from one agent config. A config change builds a new set, or keeps this one whole. */
export interface Parts {
  config: AgentConfig;
  /** config.trustedKeys, parsed: who may sign releases and the channel. Empty: nothing is checked. */
  trusted: readonly TrustedKey[];
  sources: Sources;
  dataDir: DataDir;
  identity: Identity;
  /** The metadata client (and its token), for identity and termination notices; null off EC2. */
  imds: ImdsClient | null;
  runner: ReleaseRunner;
  /** The Auto Scaling lifecycle hooks to complete; null when none is configured. */
  autoScaling: AutoScalingHooks | null;
}

/** What the agent remembers between passes of its loop. */
export interface Memory {
  /** state.json as last written. */
  local: LocalState;
  /** The release that ran healthy before the last switch, and when the switch happened. */
  previous: { id: string; sinceMs: number } | null;
  /** The channel as last read; a pass that is not a poll reuses it. */
  channel: ChannelView | null;
  /** Signed channels: the newest one followed (channel-trust.json), the last verdict's pair, and whether it refused. */
  channelTrust: { record: TrustRecord | null; last: Judged | null; refused: boolean };
  /** The release whose last fetch failed, if it did. */
  fetchFailed: string | null;
  termination: { reason: string; kind: 'spot' | 'lifecycle'; done: boolean } | null;
  /** The launch hook: pending until the first release passes its gate (or none can), then done. */
  launchHook: 'pending' | 'done' | null;
  /** The last count of a release's failure markers (agent/rollout/halt.ts). */
  failureCheck: FailureCheck | null;
}

export interface Context {
  parts: Parts;
  memory: Memory;
  conditions: Conditions;
  metrics: AgentMetrics;
  clock: Clock;
  log: Logger;
  /** Aborts when the agent stops: drains and waits end early. */
  stopping: AbortSignal;
  /** How bundles are installed; absent: in this process. */
  install?: InstallBundle;
}
