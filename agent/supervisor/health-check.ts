// The app's own health check: one probe is a GET that must answer 2xx; the health gate
// polls until the first good answer, the app exiting, or the timeout. Deciding the outcome
// (judgeHealthWait) is pure; probing and waiting are thin shells around it.
import { sleep } from '../clock.ts';
import { describeError } from '../errors.ts';
import { http, https } from '../http-modules.ts';

// The backoff lives in its own module; it is re-exported here, where callers of the health
// gate (restarts, polling) look for it.
export { backoffDelay, type BackoffOptions } from './backoff.ts';

export interface ProbeResult {
  ok: boolean;
  status?: number;
  error?: string;
}

export interface HealthWait {
  healthy: boolean;
  reason: string;
}

/** One GET of `url`: 2xx is ok. Never throws, never reuses a socket, gives up after timeoutMs. */
export function probeHealth(input: { url: string; timeoutMs: number }): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(input.url);
    } catch {
      resolve({ ok: false, error: `not a valid URL: ${input.url}` });
      return;
    }
    const client = url.protocol === 'http:' ? http : url.protocol === 'https:' ? https : undefined;
    if (!client) {
      resolve({ ok: false, error: `unsupported protocol ${url.protocol} in ${input.url}` });
      return;
    }
    let settled = false;
    const settle = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const req = client.request(url, {
      method: 'GET',
      agent: false,
      headers: { connection: 'close', 'user-agent': 'herd-health-check' },
    }, (res) => {
      const status = res.statusCode ?? 0;
      settle({ ok: status >= 200 && status < 300, status });
      res.on('error', () => {}); // the body is not needed; dropping it may abort the response
      res.destroy();
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${input.timeoutMs} ms`)), input.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => settle({ ok: false, error: err.message || err.code || describeError(err) }));
    req.end();
  });
}

/** What is known while waiting; judgeHealthWait turns it into an outcome or "keep polling". */
export interface HealthWaitState {
  url: string;
  timeoutS: number;
  attempts: number;
  last?: ProbeResult;
  /** The app's exit (resolved `exited`), or why it never ran (rejected `exited`). */
  exit?: { value: unknown } | { error: unknown };
  aborted: boolean;
  timedOut: boolean;
}

/** The outcome of the health gate so far, or null to keep polling. An exit beats a late good answer. */
export function judgeHealthWait(state: HealthWaitState): HealthWait | null {
  if (state.exit) {
    if ('error' in state.exit) return { healthy: false, reason: `the app did not start: ${describeError(state.exit.error)}` };
    return { healthy: false, reason: `the app exited (${describeExitValue(state.exit.value)}) before ${state.url} answered healthy` };
  }
  if (state.aborted) return { healthy: false, reason: `the health check of ${state.url} was cancelled` };
  if (state.last?.ok) {
    return { healthy: true, reason: `${state.url} answered HTTP ${state.last.status} after ${state.attempts} check(s)` };
  }
  if (state.timedOut) {
    return { healthy: false, reason: `${state.url} was not healthy within ${state.timeoutS}s (last check: ${describeProbe(state.last)})` };
  }
  return null;
}

export function describeProbe(probe: ProbeResult | undefined): string {
  if (!probe) return 'none completed';
  if (probe.status !== undefined) return `HTTP ${probe.status}`;
  return probe.error ?? 'no answer';
}

function describeExitValue(value: unknown): string {
  const exit = (value ?? {}) as { code?: unknown; signal?: unknown };
  if (typeof exit.signal === 'string' && exit.signal) return `killed by ${exit.signal}`;
  if (typeof exit.code === 'number') return `exit code ${exit.code}`;
  return 'no exit status';
}

export interface WaitHealthyInput {
  url: string;
  timeoutS: number;
  /** Pause between checks; 500 ms unless given. */
  intervalMs?: number;
  /** One check's own limit, capped by the time left; 2000 ms unless given. */
  probeTimeoutMs?: number;
  /** The app's `exited`: if it settles first, the app is not healthy. */
  exited?: Promise<unknown>;
  signal?: AbortSignal;
}

/** Poll until the first 2xx, the app exits, the signal aborts or timeoutS passes. Never throws. */
export async function waitHealthy(input: WaitHealthyInput): Promise<HealthWait> {
  const intervalMs = input.intervalMs ?? 500;
  const probeTimeoutMs = input.probeTimeoutMs ?? 2_000;
  const deadline = Date.now() + input.timeoutS * 1000;
  const state: HealthWaitState = { url: input.url, timeoutS: input.timeoutS, attempts: 0, aborted: false, timedOut: false };

  // Exit and abort are final, so one signal wakes every wait below.
  const interrupt = new AbortController();
  const interrupted = new Promise<void>((resolve) => interrupt.signal.addEventListener('abort', () => resolve(), { once: true }));
  input.exited?.then(
    (value) => { state.exit = { value }; interrupt.abort(); },
    (error: unknown) => { state.exit = { error }; interrupt.abort(); },
  );
  const onAbort = (): void => { state.aborted = true; interrupt.abort(); };
  if (input.signal?.aborted) state.aborted = true;
  input.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    for (;;) {
      const verdict = judgeHealthWait(state);
      if (verdict) return verdict;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        state.timedOut = true;
        continue;
      }
      const budget = Math.min(probeTimeoutMs, remaining);
      const probe = probeHealth({ url: input.url, timeoutMs: budget });
      const result = await Promise.race([probe, interrupted]);
      if (result) {
        state.attempts += 1;
        // A probe cut short by the deadline says less than a real answer before it: keep
        // the real one as "the last check" the operator reads.
        const cutShort = budget < probeTimeoutMs && !result.ok && result.status === undefined;
        if (!(cutShort && state.last?.status !== undefined)) state.last = result;
        if (result.ok) continue;
      }
      await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())), interrupt.signal);
    }
  } finally {
    input.signal?.removeEventListener('abort', onAbort);
  }
}
