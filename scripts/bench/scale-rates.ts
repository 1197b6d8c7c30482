// Request rates of the simulated fleet, per second, at three scopes: one key, one prefix (the
// key's "directory", what a general purpose bucket's limit is per), and one bucket (what a
// directory bucket's limit is per). Plus percentiles. Pure apart from the counters' own state.

/** The prefix a key's rate counts against: everything up to and including its last '/'. */
export function prefixOf(key: string): string {
  return key.slice(0, key.lastIndexOf('/') + 1);
}

/** Counts per whole second (from `originMs`) for each scope; a scope is any string. */
export class RateCounter {
  private readonly originMs: number;
  private readonly bins = new Map<string, Map<number, number>>();

  constructor(originMs: number) {
    this.originMs = originMs;
  }

  add(scope: string, atMs: number, n = 1): void {
    this.addTo(this.binsOf(scope), atMs, n);
  }

  /** The counts of `scope`, to add to with addTo (a simulation's hot path keeps them rather than look the name up each time). */
  binsOf(scope: string): Map<number, number> {
    let bins = this.bins.get(scope);
    if (!bins) this.bins.set(scope, bins = new Map());
    return bins;
  }

  addTo(bins: Map<number, number>, atMs: number, n = 1): void {
    const second = Math.floor((atMs - this.originMs) / 1000);
    bins.set(second, (bins.get(second) ?? 0) + n);
  }

  /** The busiest whole second of `scope` within [fromMs, toMs): its count and when it began; 0 when none. */
  peak(scope: string, fromMs = -Infinity, toMs = Infinity): { perS: number; atMs: number | null } {
    let best = { perS: 0, atMs: null as number | null };
    for (const [second, n] of this.bins.get(scope) ?? []) {
      const at = this.originMs + second * 1000;
      if (at >= fromMs && at < toMs && n > best.perS) best = { perS: n, atMs: at };
    }
    return best;
  }

  /** Every scope whose name starts with `prefix`. */
  scopes(prefix = ''): string[] {
    return [...this.bins.keys()].filter((s) => s.startsWith(prefix));
  }
}

/** One request as the rates see it: which source (by name), GET or PUT, which key. */
export interface RateScopes { key: string; prefix: string; bucket: string }

/** Pure: the three scope names a request of `method` to `key` at `source` counts in. */
export function scopesOf(source: string, method: string, key: string): RateScopes {
  return { key: `${source} ${method} key ${key}`, prefix: `${source} ${method} prefix ${prefixOf(key)}`, bucket: `${source} ${method} bucket` };
}

/** The busiest scope of one level (key, prefix or bucket) for a source and method, within a window. */
export function busiest(counter: RateCounter, source: string, method: string, level: keyof RateScopes, fromMs: number, toMs: number): { scope: string; perS: number; atMs: number | null } {
  const head = `${source} ${method} ${level}`;
  let best = { scope: '', perS: 0, atMs: null as number | null };
  for (const scope of counter.scopes(head)) {
    const p = counter.peak(scope, fromMs, toMs);
    if (p.perS > best.perS) best = { scope: scope.slice(head.length + 1), ...p };
  }
  return best;
}

/** Nearest-rank percentile of `values` (p in 0..100); null when empty. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? null;
}

/** p50, p99 and the largest of `values`, and how many. */
export function latencySummary(values: readonly number[]): { p50: number | null; p99: number | null; max: number | null; n: number } {
  return { p50: percentile(values, 50), p99: percentile(values, 99), max: percentile(values, 100), n: values.length };
}
