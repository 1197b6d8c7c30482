// Time and chance, injected: the agent's loop reads the clock, draws jitter and sleeps only
// through a Clock, so tests drive it with fake timers. `sleep` is the one sleep of the agent:
// it ends early, without throwing, when its signal aborts (a nudge, a stop, an app exit).

export interface Clock {
  now(): number;
  /** A number in [0, 1), for jitter. */
  random(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts; never rejects. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Resolves after `ms`, or as soon as `signal` aborts; never rejects. Uses the global timers, which fake timers replace. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve(); };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });
}

export const systemClock: Clock = { now: () => Date.now(), random: () => Math.random(), sleep };

/** The system clock with a given random source (a constant in tests). */
export function clockWith(random: () => number): Clock {
  return { ...systemClock, random };
}
