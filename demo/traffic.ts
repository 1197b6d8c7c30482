// Steady traffic through the load balancer: a bounded loop of GETs at a fixed rate, each
// on a fresh connection, counting what was served (and by which release) and what failed.
import http from 'node:http';

export interface TrafficCounts {
  served: number;
  failed: number;
  byRelease: Record<string, number>;
  /** Why requests failed: "HTTP 503", "ECONNRESET", "timeout"... */
  failures: Record<string, number>;
}

export interface Traffic {
  counts(): TrafficCounts;
  /** Share of answers by release over the last `windowMs`, in percent. */
  recentShare(windowMs: number): Record<string, number>;
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<TrafficCounts>;
}

export interface TrafficInput {
  url: string;
  ratePerS: number;
  timeoutMs?: number;
  /** More than this many unanswered requests and the loop skips a beat rather than pile up. */
  maxInFlight?: number;
}

type Outcome = { ok: true; release: string } | { ok: false; reason: string };

export function startTraffic(input: TrafficInput): Traffic {
  const counts: TrafficCounts = { served: 0, failed: 0, byRelease: {}, failures: {} };
  const recent: Array<{ at: number; release: string }> = [];
  const inFlight = new Set<Promise<void>>();
  const maxInFlight = input.maxInFlight ?? 50;

  const record = (outcome: Outcome) => {
    if (outcome.ok) {
      counts.served += 1;
      counts.byRelease[outcome.release] = (counts.byRelease[outcome.release] ?? 0) + 1;
      recent.push({ at: Date.now(), release: outcome.release });
      if (recent.length > 10_000) recent.splice(0, recent.length - 10_000);
    } else {
      counts.failed += 1;
      counts.failures[outcome.reason] = (counts.failures[outcome.reason] ?? 0) + 1;
    }
  };
  const timer = setInterval(() => {
    if (inFlight.size >= maxInFlight) return;
    const request = requestOnce(input.url, input.timeoutMs ?? 5_000).then(record).finally(() => inFlight.delete(request));
    inFlight.add(request);
  }, Math.max(1, Math.round(1000 / input.ratePerS)));

  const snapshot = (): TrafficCounts => structuredClone(counts);
  return {
    counts: snapshot,
    recentShare(windowMs) {
      const since = Date.now() - windowMs;
      const window = recent.filter((r) => r.at >= since);
      const share: Record<string, number> = {};
      for (const r of window) share[r.release] = (share[r.release] ?? 0) + 1;
      for (const k of Object.keys(share)) share[k] = Math.round(((share[k] as number) / window.length) * 100);
      return share;
    },
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
      return snapshot();
    },
  };
}

/** One GET; served means 200 with the sample app's JSON naming its release. Never throws. */
function requestOnce(url: string, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolveOutcome) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.once('error', (err: NodeJS.ErrnoException) => resolveOutcome({ ok: false, reason: err.code ?? err.message }));
      res.once('end', () => {
        if (res.statusCode !== 200) return resolveOutcome({ ok: false, reason: `HTTP ${res.statusCode}` });
        const release = releaseOf(body);
        resolveOutcome(release ? { ok: true, release } : { ok: false, reason: 'unexpected answer' });
      });
    });
    req.once('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    req.once('error', (err: NodeJS.ErrnoException) => resolveOutcome({ ok: false, reason: err.code ?? err.message }));
  });
}

function releaseOf(body: string): string | null {
  try {
    const release = (JSON.parse(body) as { release?: unknown }).release;
    return typeof release === 'string' ? release : null;
  } catch {
    return null;
  }
}
