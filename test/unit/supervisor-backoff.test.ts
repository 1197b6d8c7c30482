// The restart/poll backoff is pure: a table of attempts, caps and jitter values.
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../agent/supervisor/backoff.ts';

const opts = (jitter: number, baseMs = 1_000, maxMs = 60_000) => ({ baseMs, maxMs, jitter: () => jitter });

describe('backoffDelay', () => {
  it.each([
    // attempt, jitter, expected: the step doubles from baseMs, jitter picks a point in its upper half
    [1, 0, 500],
    [1, 0.5, 750],
    [1, 0.999, 1_000],
    [2, 0, 1_000],
    [3, 0, 2_000],
    [4, 0.5, 6_000],
    [6, 0, 16_000],
    [7, 1, 60_000], // 64 s capped at 60 s
    [7, 0, 30_000],
    [50, 0.5, 45_000],
    [10_000, 1, 60_000], // 2^9999 is Infinity: still capped, never NaN
    [Infinity, 1, 60_000],
    [0, 1, 1_000], // attempts below 1 count as the first
    [-3, 1, 1_000],
    [Number.NaN, 1, 1_000],
    [2.9, 0, 1_000], // fractional attempts round down
  ])('attempt %s with jitter %s waits %s ms', (attempt, jitter, expected) => {
    expect(backoffDelay(attempt, opts(jitter))).toBe(expected);
  });

  it.each([
    ['jitter above 1 is clamped', opts(7), 1, 1_000],
    ['jitter below 0 is clamped', opts(-1), 1, 500],
    ['NaN jitter counts as 0', opts(Number.NaN), 1, 500],
    ['a zero base never grows', opts(1, 0), 100, 0],
    ['a cap below the base wins', opts(1, 1_000, 200), 1, 200],
    ['an infinite cap counts as the base', opts(1, 1_000, Infinity), 5, 1_000],
    ['a negative base counts as zero', opts(1, -5), 3, 0],
  ])('%s', (_name, options, attempt, expected) => {
    expect(backoffDelay(attempt, options)).toBe(expected);
  });

  it('never goes below half its step nor above the cap, whatever the random number', () => {
    for (let attempt = 1; attempt <= 20; attempt++) {
      const step = Math.min(10_000, 100 * 2 ** (attempt - 1));
      for (const jitter of [0, 0.1, 0.5, 0.9, 0.999]) {
        const delay = backoffDelay(attempt, { baseMs: 100, maxMs: 10_000, jitter: () => jitter });
        expect(delay).toBeGreaterThanOrEqual(step / 2);
        expect(delay).toBeLessThanOrEqual(step);
      }
    }
  });
});
