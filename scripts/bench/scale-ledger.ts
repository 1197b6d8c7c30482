// Every request the simulated fleet makes, counted: per second for each key, prefix and bucket
// (scale-rates.ts), by kind and bytes over the idle window (for the bill), and by what it was
// for, idle and from the roll on. Report keys are one per agent: their prefix and bucket are
// counted like any other, and each key's own rate per agent, which saves a counter per key.
import { layoutFor } from '../../agent/store/layout.ts';
import type { RequestKind } from './scale-prices.ts';
import type { IdleCount, SourceSpec } from './scale-types.ts';
import { RateCounter, scopesOf } from './scale-rates.ts';
import { ROLE } from './scale-world.ts';

export type Method = 'GET' | 'PUT' | 'LIST' | 'SESSION';
/** Where one request is counted: the per-second counts of its key, prefix and bucket. */
export type Counted = { key: Map<number, number>; prefix: Map<number, number>; bucket: Map<number, number> };

export class RequestLedger {
  readonly rates: RateCounter;
  readonly byWhat = new Map<string, number>();
  readonly rollByWhat = new Map<string, number>();
  /** The most report writes one agent made in one second. */
  reportKeyPeak = 0;
  private readonly sources: readonly SourceSpec[];
  private readonly idleFrom: number;
  private readonly idleTo: number;
  private readonly rollAtMs: number | null;
  private readonly cache = new Map<string, Counted>();
  private readonly idle: Array<Record<RequestKind, IdleCount>>;
  private readonly reports: Counted[];
  private readonly channels: Counted[][];
  private readonly reportSecond: Float64Array;
  private readonly reportsInSecond: Int32Array;

  constructor(input: { sources: readonly SourceSpec[]; agents: number; startMs: number; idleMs: number; rollAtMs: number | null }) {
    this.sources = input.sources;
    this.rates = new RateCounter(input.startMs);
    this.idleFrom = input.startMs;
    this.idleTo = input.startMs + input.idleMs;
    this.rollAtMs = input.rollAtMs;
    this.idle = input.sources.map((s) => ({
      get: { type: s.type, kind: 'get', n: 0, bytes: 0 }, put: { type: s.type, kind: 'put', n: 0, bytes: 0 },
      list: { type: s.type, kind: 'list', n: 0, bytes: 0 }, session: { type: s.type, kind: 'session', n: 0, bytes: 0 },
    }));
    const layout = layoutFor('herd');
    this.reports = input.sources.map((_, si) => this.scopes(si, 'PUT', layout.report(ROLE, 'x')));
    this.channels = input.sources.map((s, si) => Array.from({ length: s.channelCopies ?? 1 }, (_, copy) =>
      this.scopes(si, 'GET', (s.channelCopies ?? 1) > 1 ? `herd/roles/${ROLE}/channel-${copy}/channel.json` : layout.channel(ROLE))));
    this.reportSecond = new Float64Array(input.agents).fill(-1);
    this.reportsInSecond = new Int32Array(input.agents);
  }

  /** The scopes of a request of `method` to `key` at source `si`, made once; a LIST of a prefix counts with the GETs. */
  scopes(si: number, method: Method, key: string): Counted {
    const name = `${si} ${method} ${key}`;
    let found = this.cache.get(name);
    if (!found) {
      const s = scopesOf((this.sources[si] as SourceSpec).name, method === 'LIST' ? 'GET' : method, key);
      this.cache.set(name, found = { key: this.rates.binsOf(s.key), prefix: this.rates.binsOf(s.prefix), bucket: this.rates.binsOf(s.bucket) });
    }
    return found;
  }

  /** The scopes of the channel copy an agent in `slot` reads at source `si`. */
  channel(si: number, slot: number): Counted {
    const copies = this.channels[si] as Counted[];
    return copies[slot % copies.length] as Counted;
  }

  /** Counts one request by `agent` at `atMs`; `where` is 'report' for the agent's own report key. */
  count(agent: number, si: number, method: Method, where: Counted | 'report', what: string, bytes: number, atMs: number): void {
    const rates = this.rates;
    if (where === 'report') {
      const r = this.reports[si] as Counted;
      rates.addTo(r.prefix, atMs);
      rates.addTo(r.bucket, atMs);
      const second = Math.floor(atMs / 1000);
      const n = second === this.reportSecond[agent] ? (this.reportsInSecond[agent] as number) + 1 : 1;
      this.reportSecond[agent] = second;
      this.reportsInSecond[agent] = n;
      if (n > this.reportKeyPeak) this.reportKeyPeak = n;
    } else {
      // A CreateSession is one per bucket, not per key.
      if (method !== 'SESSION') rates.addTo(where.key, atMs);
      if (method !== 'SESSION') rates.addTo(where.prefix, atMs);
      rates.addTo(where.bucket, atMs);
    }
    if (atMs >= this.idleFrom && atMs < this.idleTo) {
      const c = this.idle[si]?.[method === 'GET' ? 'get' : method === 'PUT' ? 'put' : method === 'LIST' ? 'list' : 'session'];
      if (c) {
        c.n += 1;
        c.bytes += bytes;
      }
      this.byWhat.set(what, (this.byWhat.get(what) ?? 0) + 1);
    }
    if (this.rollAtMs !== null && atMs >= this.rollAtMs) this.rollByWhat.set(what, (this.rollByWhat.get(what) ?? 0) + 1);
  }

  /** The idle window's counts, by source type and kind, those with any. */
  idleCounts(): IdleCount[] {
    return this.idle.flatMap((c) => [c.get, c.put, c.list, c.session]).filter((c) => c.n > 0);
  }
}
