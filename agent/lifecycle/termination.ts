// Termination notices from instance metadata: a spot interruption (`spot/instance-action`)
// or an Auto Scaling lifecycle state of `Terminated`. On either, the agent drains and stops
// the app gracefully before the instance goes. Polling tolerates an unreachable metadata
// service: a fault there must never stop a serving app.
import { describeError } from '../errors.ts';
import type { ImdsClient } from '../identity/imds-client.ts';
import type { Logger } from '../log.ts';

export const SPOT_PATH = 'meta-data/spot/instance-action';
export const LIFECYCLE_PATH = 'meta-data/autoscaling/target-lifecycle-state';

export type Notice = { kind: 'spot'; action: string; time: string | null } | { kind: 'lifecycle'; state: string };

/** Pure: what the two metadata answers (null = 404) mean. */
export function readNotice(input: { spot: string | null; lifecycle: string | null }): Notice | null {
  if (input.spot) {
    let action = 'terminate';
    let time: string | null = null;
    try {
      const parsed = JSON.parse(input.spot) as { action?: unknown; time?: unknown };
      if (typeof parsed.action === 'string') action = parsed.action;
      if (typeof parsed.time === 'string') time = parsed.time;
    } catch {
      // AWS documents JSON; anything present at this path is still a notice.
    }
    return { kind: 'spot', action, time };
  }
  if (input.lifecycle?.trim() === 'Terminated') return { kind: 'lifecycle', state: 'Terminated' };
  return null;
}

export function describeNotice(notice: Notice): string {
  return notice.kind === 'spot'
    ? `spot interruption notice (${notice.action}${notice.time ? ` at ${notice.time}` : ''})`
    : `Auto Scaling lifecycle state ${notice.state}`;
}

export interface TerminationWatchInput {
  imds: ImdsClient;
  intervalMs: number;
  log: Logger;
  onNotice: (notice: Notice) => void;
}

/** Polls until a notice is seen (reported once) or stopped; returns the stop function. */
export function watchTermination(input: TerminationWatchInput): () => void {
  const log = input.log.child({ module: 'termination' });
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let failing = false;
  const poll = async () => {
    if (stopped) return;
    try {
      const [spot, lifecycle] = await Promise.all([input.imds.getOrNull(SPOT_PATH), input.imds.getOrNull(LIFECYCLE_PATH)]);
      failing = false;
      const notice = readNotice({ spot, lifecycle });
      if (notice && !stopped) {
        log.warn({ notice }, `${describeNotice(notice)}: draining before the instance goes`);
        stopped = true;
        input.onNotice(notice);
        return;
      }
    } catch (err) {
      if (!failing) log.warn({ err: describeError(err) }, 'cannot read termination notices from instance metadata; will keep trying');
      failing = true;
    }
    if (!stopped) timer = setTimeout(poll, input.intervalMs);
  };
  timer = setTimeout(poll, 0);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
