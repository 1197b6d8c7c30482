// The idle agent gives its memory back. V8 leaves an idle process's heap as its last burst of
// work left it: the young generation grown to its limit and pages kept for reuse, so an agent
// that polls every ten seconds creeps up by about 2 MB in its first minutes and stays there.
// Every 30 s, and once its first release is up, the agent asks V8 for the collection it makes when memory runs short (every
// space compacted, the young generation shrunk, pooled pages returned, bytecode not run lately
// dropped). Measured on an idle agent (npm run bench): about 2 MB less resident, for 5 ms of
// CPU a minute. V8 hands out that collection only to a process started with --expose-gc,
// which the agent is (agent-v8.ts; scripts/build.mjs for the executable); otherwise this
// does nothing.
import type { Logger } from './log.ts';

export const COMPACT_EVERY_MS = 30_000;

/** V8's gc() as --expose-gc installs it, with the options Node documents for it. */
type ExposedGc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

export interface HeapCompaction {
  /** Compacts now, e.g. once a burst of work is over. */
  compactNow(): void;
  stop(): void;
}

/** Compacts the heap every `everyMs` until stopped; the timer never holds the process open. */
export function compactHeapWhileIdle(input: { log: Logger; everyMs?: number; gc?: unknown }): HeapCompaction {
  const gc = 'gc' in input ? input.gc : (globalThis as { gc?: unknown }).gc;
  if (typeof gc !== 'function') {
    input.log.debug({ module: 'heap-compaction' }, 'gc is not exposed; the heap is left to V8');
    return { compactNow: () => {}, stop: () => {} };
  }
  const compactNow = () => (gc as ExposedGc)({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  const timer = setInterval(compactNow, input.everyMs ?? COMPACT_EVERY_MS);
  timer.unref();
  return { compactNow, stop: () => clearInterval(timer) };
}
