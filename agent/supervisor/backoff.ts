// How long to wait before retry number `attempt` (restarting a crashed app now, polling a
// failing store later): capped exponential growth with "equal jitter", so a fleet that
// failed together does not retry together, yet no delay drops below half its step.

export interface BackoffOptions {
  /** The delay of the first attempt (before jitter). */
  baseMs: number;
  /** No delay exceeds this. */
  maxMs: number;
  /** A random number in [0, 1): Math.random in production, a constant in tests. */
  jitter: () => number;
}

/**
 * Delay before attempt `attempt` (1 = the first retry): min(maxMs, baseMs * 2^(attempt-1)),
 * then a random point in its upper half. Attempts below 1 count as 1; a non-finite
 * maxMs counts as baseMs. Pure, never NaN.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const base = Number.isFinite(opts.baseMs) ? Math.max(0, opts.baseMs) : 0;
  const max = Number.isFinite(opts.maxMs) ? Math.max(0, opts.maxMs) : base;
  const step = Number.isFinite(attempt) ? Math.max(1, Math.floor(attempt)) : attempt > 0 ? Infinity : 1;
  // Past 2^1023 the power is Infinity, which the cap handles (a zero base stays zero).
  const capped = base === 0 ? 0 : Math.min(max, base * 2 ** (step - 1));
  const jitter = clamp01(opts.jitter());
  return Math.round(capped / 2 + (capped / 2) * jitter);
}

function clamp01(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return Math.min(1, Math.max(0, value));
}
