// Pure: from what the agent observed, the one step to take next. Which release this
// instance should run is rollout/decide.ts's answer; this adds how to get there from what
// runs now, when to go back, and what to do when the store cannot be read. No I/O, no clock.
import type { LocalState } from '../releases/state.ts';
import { decideRelease } from '../rollout/decide.ts';
import { planApply, shouldRollBackCrashLoop } from '../rollout/plan.ts';
import type { Channel, ReleaseManifest, SignalName } from '../store/schemas.ts';
import type { RunnerState } from '../supervisor/release-runner.ts';

/** A release young enough that a crash loop sends the instance back to the one before. */
export const CRASH_LOOP_WINDOW_MS = 10 * 60_000;

export type ChannelView =
  | { kind: 'found'; channel: Channel }
  | { kind: 'absent'; detail: string }
  | { kind: 'unreachable'; error: string }
  /** Read, but not to be followed (signed channels: unsigned, a bad signature, a rollback, expired). */
  | { kind: 'refused'; error: string };

export interface Observed {
  nowMs: number;
  instanceId: string;
  channel: ChannelView;
  /** The app's release as the runner has it; null when nothing runs. */
  running: { id: string; manifest: ReleaseManifest; state: RunnerState; healthy: boolean } | null;
  /** Manifests of the releases on disk that could matter (wanted, previous, last-known-good). */
  installed: ReadonlyMap<string, ReleaseManifest>;
  local: Pick<LocalState, 'failed' | 'lastKnownGood'>;
  /** The release that ran healthy before the last switch, and when the switch happened. */
  previous: { id: string; sinceMs: number } | null;
  /** The release whose last fetch failed, if the last fetch failed. */
  fetchFailed: string | null;
  termination: { reason: string; done: boolean } | null;
  /** An Auto Scaling launch hook waits for this instance to serve. */
  launchHookPending: boolean;
  /** The failure markers last counted before applying a release: for which release and generation, and the verdict. */
  failureCheck: FailureCheck | null;
}

export interface FailureCheck {
  release: string;
  generation: number;
  halted: boolean;
  /** Why the rollout is halted (describeHalt); null when it is not. */
  reason: string | null;
}

export type Step =
  /** In the wanted state: look again at the next poll, or at `until` (a wave falling due). */
  | { kind: 'none'; desired: string | null; reason: string; until: number | null }
  /** Nothing can be done until something changes (the channel, the store); `failed`: because the release failed here. */
  | { kind: 'wait'; desired: string | null; reason: string; failed?: true }
  | { kind: 'fetch'; desired: string; check?: CheckFailures }
  | { kind: 'start'; desired: string; generation: number; check?: CheckFailures }
  | { kind: 'reload'; desired: string; from: string; signal: SignalName; generation: number; check?: CheckFailures }
  | { kind: 'switch'; desired: string; from: string; generation: number; check?: CheckFailures }
  /** `from` failed here (or crash-loops): run `to`, the release that ran before, again. */
  | { kind: 'go-back'; desired: string | null; from: string; to: string; reason: string; generation: number | null }
  | { kind: 'run-last-known-good'; desired: string | null; release: string }
  | { kind: 'drain-for-termination'; desired: string | null; reason: string }
  /** The Auto Scaling launch hook: CONTINUE once a release serves, ABANDON when none can. */
  | { kind: 'complete-launch-hook'; desired: string | null; result: 'CONTINUE' | 'ABANDON'; reason: string };

export type StepKind = Step['kind'];

/**
 * On a step toward the channel's release: first count its failure markers (once per release
 * and generation); the executor does, and skips the step when the rollout is halted.
 */
export interface CheckFailures {
  release: string;
  generation: number;
}

export function decideStep(o: Observed): Step {
  const step = decideReleaseStep(o);
  if (!o.launchHookPending || step.kind === 'drain-for-termination') return step;
  if (o.running?.state === 'running' && o.running.healthy) {
    return { kind: 'complete-launch-hook', desired: step.desired, result: 'CONTINUE', reason: `release ${o.running.id} passed its health gate` };
  }
  if (!o.running && step.kind === 'wait' && step.failed) return { kind: 'complete-launch-hook', desired: step.desired, result: 'ABANDON', reason: step.reason };
  return step;
}

/** The step for the release alone, lifecycle hooks aside. */
function decideReleaseStep(o: Observed): Step {
  if (o.termination) {
    return o.termination.done
      ? { kind: 'none', desired: null, reason: `instance terminating (${o.termination.reason}); nothing new is applied`, until: null }
      : { kind: 'drain-for-termination', desired: null, reason: o.termination.reason };
  }
  const { running, previous } = o;
  const generation = o.channel.kind === 'found' ? o.channel.channel.generation : null;
  if (running?.state === 'crash-loop' && previous && previous.id !== running.id && shouldRollBackCrashLoop({
    crashLoop: true, hasPrevious: true, switchedAtMs: previous.sinceMs, nowMs: o.nowMs, windowMs: CRASH_LOOP_WINDOW_MS,
  })) {
    return { kind: 'go-back', desired: running.id, from: running.id, to: previous.id, reason: 'crash loop', generation };
  }
  if (o.channel.kind !== 'found') {
    const lkg = lastKnownGood(o);
    if (!running && lkg) return { kind: 'run-last-known-good', desired: null, release: lkg };
    const reason = o.channel.kind === 'absent' ? o.channel.detail : o.channel.error;
    return { kind: 'wait', desired: null, reason };
  }

  const channel = o.channel.channel;
  const failedHere = (id: string) => o.local.failed[id]?.generation === channel.generation;
  // What runs (a reload that did not pass), or what was just tried (a switch that did not),
  // failed here: back to what ran before.
  const bad = running ? running.id : channel.release;
  if (previous && failedHere(bad) && previous.id !== running?.id && !failedHere(previous.id)) {
    return { kind: 'go-back', desired: bad, from: bad, to: previous.id, reason: o.local.failed[bad]?.reason ?? 'failed here', generation };
  }

  const wanted = decideRelease({ channel, instanceId: o.instanceId, now: new Date(o.nowMs), state: o.local, running: running?.id ?? null });
  let desired = wanted.release;
  if (running?.id === desired) {
    return { kind: 'none', desired, reason: wanted.reason, until: wanted.kind === 'wait' ? wanted.until?.getTime() ?? null : null };
  }
  if (failedHere(desired)) {
    const lkg = running ? null : lastKnownGood(o);
    if (lkg) return { kind: 'run-last-known-good', desired, release: lkg };
    const failure = o.local.failed[desired];
    return { kind: 'wait', desired, reason: `release ${desired} failed here (${failure?.reason}); not retried until the channel changes`, failed: true };
  }
  let check: CheckFailures | undefined;
  if (desired === channel.release && desired !== channel.previous) {
    const last = o.failureCheck;
    if (last?.release !== desired || last.generation !== channel.generation) check = { release: desired, generation: channel.generation };
    else if (last.halted) {
      const reason = last.reason ?? `the rollout of ${desired} is halted`;
      // Keep what runs; with nothing running, run what the fleet ran before, as outside the rollout.
      if (running) return { kind: 'wait', desired: running.id, reason };
      const before = channel.previous && !failedHere(channel.previous) ? channel.previous : null;
      if (!before) {
        const lkg = lastKnownGood(o);
        return lkg ? { kind: 'run-last-known-good', desired, release: lkg } : { kind: 'wait', desired, reason, failed: true };
      }
      desired = before;
    }
  }
  const step = stepToward(o, desired, channel.generation, wanted.reason);
  const applies = step.kind === 'fetch' || step.kind === 'start' || step.kind === 'reload' || step.kind === 'switch';
  return check && applies ? { ...step, check } : step;
}

/** How to get from what runs to `desired`, which has not failed here. */
function stepToward(o: Observed, desired: string, generation: number, reason: string): Step {
  const { running } = o;
  const manifest = o.installed.get(desired);
  if (!manifest) {
    const lkg = !running && o.fetchFailed === desired ? lastKnownGood(o) : null;
    if (lkg && lkg !== desired) return { kind: 'run-last-known-good', desired, release: lkg };
    return { kind: 'fetch', desired };
  }
  if (!running) return { kind: 'start', desired, generation };
  const plan = planApply(running.manifest, manifest);
  switch (plan.kind) {
    case 'none': return { kind: 'none', desired, reason, until: null };
    case 'start': return { kind: 'start', desired, generation };
    case 'reload': return { kind: 'reload', desired, from: running.id, signal: plan.signal, generation };
    case 'restart': return { kind: 'switch', desired, from: running.id, generation };
  }
}

/**
 * The last-known-good release, when it is on disk. An instance that runs nothing keeps trying
 * it (each failed try backs off), even after it failed here: it ran well here before, and a
 * failure at boot is often the machine's (a port still held, a dependency not up yet).
 */
function lastKnownGood(o: Observed): string | null {
  const id = o.local.lastKnownGood;
  return id && o.installed.has(id) ? id : null;
}
