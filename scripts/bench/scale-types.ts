// What the fleet simulation (scale-fleet.ts) is given and gives back. Types only.
import type { RequestKind, StoreType } from './scale-prices.ts';
import type { RateCounter } from './scale-rates.ts';

export interface SourceSpec {
  name: string;
  type: StoreType;
  /** Takes report writes (a CDN does not; reports go to the first source that does). */
  writable: boolean;
  /** From the roll until this source serves the new channel: a mirror's pass, a CDN's cache. */
  channelDelayMs?: number;
  /** The channel as this many copies under their own prefixes, an instance reading copy slot % n. Modelled only: herd writes one. */
  channelCopies?: number;
  /** Unreachable over these [from, to) windows, in ms after measuring starts. */
  down?: ReadonlyArray<readonly [number, number]>;
}

export interface SimInput {
  instances: number;
  sources: readonly SourceSpec[];
  settings: { pollIntervalS: number; reportHeartbeatS: number; drainS: number };
  /** Uniform ranges, in ms, of what the modelled I/O takes. */
  timings: { fetchMs: readonly [number, number]; stopMs: readonly [number, number]; startMs: readonly [number, number] };
  /** Bytes of the code bundle each instance downloads in a roll. */
  codeBytes: number;
  seed: number;
  /** The idle window measured before the roll. */
  idleMs: number;
  roll: { percent: number; waves: number; waveIntervalS: number } | null;
  /** How long after the roll to keep going at most (default: the waves, a poll, the drain and a minute). */
  afterRollMs?: number;
}

/** One kind of request to one type of source, counted over the idle window for the whole fleet. */
export interface IdleCount { type: StoreType; kind: RequestKind; n: number; bytes: number }

export interface SimResult {
  input: SimInput;
  /** Measuring starts here (after a warm-up); the roll, if any, is at rollAtMs; the run ends at endMs. */
  startMs: number;
  rollAtMs: number | null;
  endMs: number;
  rates: RateCounter;
  /** The most report writes one instance made in one second (each report key has one writer). */
  reportKeyPeakPerS: number;
  idle: { windowS: number; counts: IdleCount[]; byWhat: Map<string, number> };
  /** Requests from the roll to the end of the run, by what they were for. */
  rollByWhat: Map<string, number>;
  /** Per instance in the rollout: ms from the roll until it ran the new release healthy; and the same without its drain. */
  latency: { withDrain: number[]; withoutDrain: number[]; notApplied: number; inRollout: number };
  passes: number;
}
