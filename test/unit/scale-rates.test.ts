// bench:scale's request rates as tables: which prefix a key counts against, the busiest
// second of a scope, the busiest scope of a level, and nearest-rank percentiles.
import { describe, expect, it } from 'vitest';
import { busiest, latencySummary, percentile, prefixOf, RateCounter, scopesOf } from '../../scripts/bench/scale-rates.ts';

describe('prefixOf', () => {
  it.each([
    ['herd/roles/web/channel.json', 'herd/roles/web/'],
    ['herd/roles/web/instances/i-0abc.json', 'herd/roles/web/instances/'],
    ['herd/blobs/sha256/abcd', 'herd/blobs/sha256/'],
    ['top.json', ''],
  ])('%s counts against "%s"', (key, prefix) => {
    expect(prefixOf(key)).toBe(prefix);
  });
});

describe('RateCounter', () => {
  const origin = 1_000_000;

  it('counts per whole second from its origin and finds the busiest', () => {
    const c = new RateCounter(origin);
    for (const at of [0, 999, 1000, 1500, 1999, 2000]) c.add('s', origin + at);
    expect(c.peak('s')).toEqual({ perS: 3, atMs: origin + 1000 });
  });

  it('finds the busiest second within a window only', () => {
    const c = new RateCounter(origin);
    c.add('s', origin + 100, 10);
    c.add('s', origin + 5_100, 4);
    expect(c.peak('s', origin + 1000, origin + 10_000)).toEqual({ perS: 4, atMs: origin + 5000 });
    expect(c.peak('s', origin + 6000)).toEqual({ perS: 0, atMs: null });
    expect(c.peak('unknown')).toEqual({ perS: 0, atMs: null });
  });

  it('keeps keys, prefixes and the bucket apart, and says which scope was busiest', () => {
    const c = new RateCounter(origin);
    const add = (key: string, n: number) => {
      const s = scopesOf('standard', 'GET', key);
      for (const scope of [s.key, s.prefix, s.bucket]) c.add(scope, origin, n);
    };
    add('herd/roles/web/channel.json', 5_000);
    add('herd/roles/web/releases/v2.json', 800);
    add('herd/blobs/sha256/aa', 3_000);
    expect(busiest(c, 'standard', 'GET', 'key', origin, origin + 1000)).toMatchObject({ scope: 'herd/roles/web/channel.json', perS: 5_000 });
    // The manifest has a prefix of its own (releases/); the bucket holds them all.
    expect(busiest(c, 'standard', 'GET', 'prefix', origin, origin + 1000)).toMatchObject({ scope: 'herd/roles/web/', perS: 5_000 });
    expect(busiest(c, 'standard', 'GET', 'bucket', origin, origin + 1000)).toMatchObject({ perS: 8_800 });
    expect(busiest(c, 'standard', 'PUT', 'key', origin, origin + 1000)).toMatchObject({ perS: 0 });
  });
});

describe('percentile and latencySummary', () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  it.each([[0, 1], [50, 50], [99, 99], [99.5, 100], [100, 100]])('p%d of 1..100 is %d (nearest rank)', (p, v) => {
    expect(percentile(values, p)).toBe(v);
  });

  it('is null for no values, and does not reorder its input', () => {
    const input = [3, 1, 2];
    expect(percentile([], 50)).toBeNull();
    expect(latencySummary(input)).toEqual({ p50: 2, p99: 3, max: 3, n: 3 });
    expect(input).toEqual([3, 1, 2]);
  });
});
