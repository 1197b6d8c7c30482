// Pure: when a rollout halts itself. Each agent whose release fails its health gate or
// crash-loops writes a failure marker for the release and the channel's generation; an
// agent about to apply the release counts them, and once `rollout.maxFailures` instances
// have failed it, refuses it and keeps what it runs. No central server decides: every agent
// reaches the same answer from the same markers.
import type { Channel, FailureMarker } from '../store/schemas.ts';

/**
 * One failed instance halts a rollout unless the operator allows more (`herd roll
 * --max-failures N`): a release that cannot pass its gate on one instance of the first wave
 * most likely fails on the next ones too, and a halt costs only a new `herd roll`.
 */
export const DEFAULT_MAX_FAILURES = 1;

export function maxFailuresOf(channel: Channel): number {
  return channel.rollout.maxFailures ?? DEFAULT_MAX_FAILURES;
}

export interface Halt {
  halted: boolean;
  /** The markers of this release and generation, one per instance, oldest first. */
  failures: FailureMarker[];
  maxFailures: number;
}

/** The channel's rollout, judged by the failure markers found for its release. */
export function haltOf(channel: Channel, markers: FailureMarker[]): Halt {
  const byInstance = new Map<string, FailureMarker>();
  for (const m of markers) {
    if (m.release !== channel.release || m.generation !== channel.generation) continue;
    const seen = byInstance.get(m.instanceId);
    if (!seen || m.at < seen.at) byInstance.set(m.instanceId, m);
  }
  const failures = [...byInstance.values()].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const maxFailures = maxFailuresOf(channel);
  return { halted: failures.length >= maxFailures, failures, maxFailures };
}

/** Pure: one line for people and for /status. */
export function describeHalt(channel: Channel, halt: Halt): string {
  const who = halt.failures.map((f) => `${f.instanceId} (${f.reason})`).join('; ');
  const n = halt.failures.length;
  return `rollout of ${channel.release} (generation ${channel.generation}) halted after ${n} failure${n === 1 ? '' : 's'} `
    + `(max failures ${halt.maxFailures}): ${who}; herd roll or herd rollback starts a new rollout`;
}
