// Pure: how a pass ends, for the loop: what the executor said, the step it took and whether
// the channel could be read, as the loop's PassOutcome. A pass that only waits for a wave asks
// to be woken within the poll interval after the wave is due (waveWakeMs).
import { waveWakeMs } from '../rollout/plan.ts';
import type { ChannelView, Step } from './decide.ts';
import type { PassOutcome } from './loop.ts';

export function passOutcome(input: {
  step: Step;
  acted: 'progress' | 'settled' | 'failed';
  channel: ChannelView['kind'];
  pollIntervalS: number;
  jitter: () => number;
}): PassOutcome {
  const { step, acted } = input;
  // Acting on a channel that could not be read settles nothing: the loop backs off.
  if (acted === 'failed' || (acted === 'settled' && input.channel === 'unreachable')) return { kind: 'failed' };
  if (acted === 'progress') return { kind: 'progress' };
  const until = step.kind === 'none' && step.until !== null ? waveWakeMs(step.until, input.pollIntervalS, input.jitter) : null;
  return { kind: 'settled', until };
}
