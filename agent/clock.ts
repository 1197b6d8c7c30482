// Time and chance, injected: the agent's loop reads the clock, draws jitter and sleeps only
// through a Clock, so tests drive it with fake time. The one sleep of the agent: it ends
// early, without throwing, when its signal aborts (a nudge, a stop).
import { setTimeout as delay } from 'node:timers/promises';

export interface Clock {
  now(): number;
  /** A number in [0, 1), for jitter. */
  random(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts; never rejects. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  random: () => Math.random(),
  sleep: (ms, signal) => delay(Math.max(0, ms), undefined, signal ? { signal } : {}).catch(() => {}),
};

/** A clock whose sleeps use the global timers, which test fake timers replace. */
export function timerClock(random: () => number = Math.random): Clock {
  return {
    now: () => Date.now(),
    random,
    sleep: (ms, signal) => new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve(); };
      const timer = setTimeout(done, Math.max(0, ms));
      signal?.addEventListener('abort', done, { once: true });
    }),
  };
}
