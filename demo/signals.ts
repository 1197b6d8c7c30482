// Ctrl-C for the demo: SIGINT, SIGTERM or SIGHUP abort a signal the demo's waits watch,
// so it can stop its children in order and remove its files instead of dying mid-way.
// A closed output pipe (`node dist/demo.mjs | head`) counts too: otherwise the write error kills it.

/** Thrown by the demo's waits once it has been interrupted. */
export class Interrupted extends Error {}

export function interruptOnSignals(streams: NodeJS.WritableStream[] = [process.stdout, process.stderr]): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const names: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const abort = () => controller.abort();
  for (const name of names) process.on(name, abort);
  for (const stream of streams) stream.on('error', abort);
  return {
    signal: controller.signal,
    dispose: () => {
      for (const name of names) process.off(name, abort);
      for (const stream of streams) stream.off('error', abort);
    },
  };
}

export function throwIfInterrupted(signal: AbortSignal): void {
  if (signal.aborted) throw new Interrupted();
}

/** Waits `ms` (Infinity: until aborted); throws Interrupted when `signal` aborts first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolveSleep, reject) => {
    if (signal.aborted) return reject(new Interrupted());
    const onAbort = () => { clearTimeout(timer); reject(new Interrupted()); };
    const timer = Number.isFinite(ms) ? setTimeout(() => { signal.removeEventListener('abort', onAbort); resolveSleep(); }, ms) : undefined;
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
