// The simulation's clock: a queue of timed events (earliest first, first in first out at the
// same time) and a seeded random source, so a run is the same for the same seed. Pure.

export interface SimEvent { at: number; agent: number; kind: number; token: number }

/**
 * A binary min-heap of events by time, then by the order they were pushed, kept in typed
 * arrays: a fleet of 100,000 holds a few hundred thousand events, and objects scattered over
 * the heap made the comparisons the simulation's slowest part.
 */
export class EventQueue {
  private at = new Float64Array(1024);
  private seq = new Float64Array(1024);
  private payload = new Int32Array(3 * 1024);
  private count = 0;
  private pushed = 0;

  get size(): number {
    return this.count;
  }

  push(at: number, agent: number, kind: number, token: number): void {
    if (this.count === this.at.length) this.grow();
    let i = this.count++;
    this.place(i, at, this.pushed++, agent, kind, token);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): SimEvent | undefined {
    if (this.count === 0) return undefined;
    const p = this.payload;
    const top = { at: this.at[0] as number, agent: p[0] as number, kind: p[1] as number, token: p[2] as number };
    const last = --this.count;
    if (last > 0) {
      this.place(0, this.at[last] as number, this.seq[last] as number, p[3 * last] as number, p[3 * last + 1] as number, p[3 * last + 2] as number);
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < last && this.before(l, m)) m = l;
        if (r < last && this.before(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }

  private before(a: number, b: number): boolean {
    const x = this.at[a] as number;
    const y = this.at[b] as number;
    return x < y || (x === y && (this.seq[a] as number) < (this.seq[b] as number));
  }

  private place(i: number, at: number, seq: number, agent: number, kind: number, token: number): void {
    this.at[i] = at;
    this.seq[i] = seq;
    this.payload[3 * i] = agent;
    this.payload[3 * i + 1] = kind;
    this.payload[3 * i + 2] = token;
  }

  private swap(a: number, b: number): void {
    const p = this.payload;
    const at = this.at[a] as number;
    const seq = this.seq[a] as number;
    const agent = p[3 * a] as number;
    const kind = p[3 * a + 1] as number;
    const token = p[3 * a + 2] as number;
    this.place(a, this.at[b] as number, this.seq[b] as number, p[3 * b] as number, p[3 * b + 1] as number, p[3 * b + 2] as number);
    this.place(b, at, seq, agent, kind, token);
  }

  private grow(): void {
    const n = this.at.length * 2;
    const at = new Float64Array(n);
    const seq = new Float64Array(n);
    const payload = new Int32Array(3 * n);
    at.set(this.at);
    seq.set(this.seq);
    payload.set(this.payload);
    this.at = at;
    this.seq = seq;
    this.payload = payload;
  }
}

/** A seeded random source in [0, 1) (mulberry32): small, fast, and the same sequence for the same seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
