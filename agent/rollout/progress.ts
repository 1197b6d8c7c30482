// Pure: how far a rollout has come, from the channel, the instance reports and the failure
// markers: what `herd roll --wait` and `herd status --wait` print and decide on. An instance
// is in the rollout by the same slot and wave rules the agents follow (decide.ts).
import type { Channel, FailureMarker, InstanceReport } from '../store/schemas.ts';
import { slotOf, waveOf } from './decide.ts';
import { haltOf, type Halt } from './halt.ts';

export type InstanceStep =
  /** slot outside the rollout's percent: keeps `previous`, not waited for */
  | 'outside'
  /** its wave is not due yet */
  | 'wave-later'
  /** not on the release yet, nothing under way */
  | 'left'
  | 'draining'
  /** fetching, stopping the old app or starting the new one */
  | 'applying'
  /** runs the release, healthy */
  | 'done'
  /** has a failure marker for this release and generation (it went back) */
  | 'failed';

export type Outcome =
  | { kind: 'done' }
  | { kind: 'halted'; halt: Halt }
  | { kind: 'failed'; failures: FailureMarker[] }
  | { kind: 'paused' }
  | { kind: 'in-progress' };

export interface Progress {
  outcome: Outcome;
  counts: Record<InstanceStep, number>;
  /** Reports older than staleAfterS, or of an agent that stopped: such an instance may be gone; not waited for. */
  stale: number;
  /** When the next wave is due, if one is. */
  nextWaveAt: string | null;
}

const APPLYING = new Set(['fetching', 'starting', 'stopping']);

export function stepOf(channel: Channel, report: InstanceReport, failed: ReadonlySet<string>, now: Date): InstanceStep {
  const { percent, waves, waveIntervalS, startedAt } = channel.rollout;
  const slot = slotOf(report.instanceId);
  if (slot >= percent) return 'outside';
  if (failed.has(report.instanceId)) return 'failed';
  if (report.release === channel.release && report.healthy && report.state === 'running') return 'done';
  if (report.state === 'draining') return 'draining';
  if (APPLYING.has(report.state)) return 'applying';
  const due = Date.parse(startedAt) + waveOf(slot, percent, waves) * waveIntervalS * 1000;
  return due > now.getTime() ? 'wave-later' : 'left';
}

export function rolloutProgress(input: {
  channel: Channel; reports: InstanceReport[]; markers: FailureMarker[]; now: Date; staleAfterS: number;
}): Progress {
  const { channel, now } = input;
  const halt = haltOf(channel, input.markers);
  const failed = new Set(halt.failures.map((f) => f.instanceId));
  const counts: Record<InstanceStep, number> = { outside: 0, 'wave-later': 0, left: 0, draining: 0, applying: 0, done: 0, failed: 0 };
  let stale = 0;
  for (const report of input.reports) {
    if (report.role !== channel.role) continue;
    // Not waited for: a report older than staleAfterS (the instance may be gone), or one whose
    // agent stopped (its instance terminated or scaled in); with reports as rare as a 30 min
    // heartbeat, the age alone would keep a roll waiting for a terminated instance for 90 min.
    if (report.state === 'stopped' || now.getTime() - Date.parse(report.updatedAt) > input.staleAfterS * 1000) {
      stale += 1;
      continue;
    }
    counts[stepOf(channel, report, failed, now)] += 1;
  }
  const inRollout = counts['wave-later'] + counts.left + counts.draining + counts.applying + counts.done + counts.failed;
  let outcome: Outcome;
  if (halt.halted) outcome = { kind: 'halted', halt };
  else if (halt.failures.length > 0) outcome = { kind: 'failed', failures: halt.failures };
  else if (inRollout > 0 && counts.done === inRollout) outcome = { kind: 'done' };
  else if (channel.paused) outcome = { kind: 'paused' };
  else outcome = { kind: 'in-progress' };
  return { outcome, counts, stale, nextWaveAt: nextWave(channel, now) };
}

function nextWave(channel: Channel, now: Date): string | null {
  const { waves, waveIntervalS, startedAt } = channel.rollout;
  for (let k = 0; k < waves; k++) {
    const at = Date.parse(startedAt) + k * waveIntervalS * 1000;
    if (at > now.getTime()) return new Date(at).toISOString();
  }
  return null;
}

/** Pure: one progress line for people. */
export function describeProgress(channel: Channel, p: Progress): string {
  const c = p.counts;
  const inRollout = c['wave-later'] + c.left + c.draining + c.applying + c.done + c.failed;
  const parts = [
    `${c.done}/${inRollout} on ${channel.release} and healthy`,
    `${c.draining} draining`, `${c.applying} applying`, `${c.failed} failed`, `${c.left + c['wave-later']} left`,
  ];
  if (c['wave-later'] > 0 && p.nextWaveAt) parts.push(`next wave at ${p.nextWaveAt}`);
  if (c.outside > 0) parts.push(`${c.outside} outside the ${channel.rollout.percent}%`);
  if (p.stale > 0) parts.push(`${p.stale} stale`);
  if (channel.paused) parts.push('PAUSED');
  return `${channel.role} -> ${channel.release}: ${parts.join(', ')}`;
}

/**
 * Pure: whether the fleet converged on the channel's release, for the `previous` of the next
 * roll: no instance failed it (markers of this generation), and no fresh report of an
 * instance in its rollout still runs another release. An instance still booting (running
 * nothing yet) does not count against it, and neither does a report a moment behind /status.
 */
export function converged(input: { channel: Channel; reports: InstanceReport[]; markers: FailureMarker[]; now: Date; staleAfterS: number }): boolean {
  const { channel, now } = input;
  if (haltOf(channel, input.markers).failures.length > 0) return false;
  return !input.reports.some((r) => r.role === channel.role
    && now.getTime() - Date.parse(r.updatedAt) <= input.staleAfterS * 1000
    && slotOf(r.instanceId) < channel.rollout.percent
    && r.release !== null && r.release !== channel.release);
}
