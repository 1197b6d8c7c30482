// Numbers for the fleet benchmark, from what the proxies recorded and the watcher saw. Pure.

/** Nearest-rank percentile of `values` (p in 0..100); null when empty. */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** first, median, p90 and last of `values`; nulls when empty. */
export function spread(values) {
  return { first: percentile(values, 0), median: percentile(values, 50), p90: percentile(values, 90), last: percentile(values, 100), n: values.length };
}

export function mean(values) {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
}

/** The request counts of one agent's records, by what a reader of the bill cares about. */
/** The failed requests (5xx or a proxy error) in `records`, as "METHOD kind -> status (error)" with a count. */
export function describeFailures(records) {
  const seen = new Map();
  for (const r of records) {
    if (!(r.status >= 500 || r.error)) continue;
    const what = `${r.method} ${r.kind} -> ${r.status}${r.error ? ` (${r.error})` : ''}`;
    seen.set(what, (seen.get(what) ?? 0) + 1);
  }
  return [...seen].map(([what, n]) => `${what} x${n}`);
}

export function countRequests(records) {
  const c = { total: records.length, channel304: 0, channel200: 0, channelOther: 0, manifestGet: 0, blobGet: 0, otherGet: 0, reportPut: 0, otherPut: 0, other: 0, withBody: 0, down: 0, up: 0, errors: 0 };
  for (const r of records) {
    c.down += r.down;
    c.up += r.up;
    if (r.down > 0) c.withBody += 1;
    if (r.status >= 500 || r.error) c.errors += 1;
    if (r.method === 'GET' && r.kind === 'channel') {
      if (r.status === 304) c.channel304 += 1;
      else if (r.status === 200) c.channel200 += 1;
      else c.channelOther += 1;
    } else if (r.method === 'GET' && r.kind === 'manifest') c.manifestGet += 1;
    else if (r.method === 'GET' && r.kind === 'blob') c.blobGet += 1;
    else if (r.method === 'GET') c.otherGet += 1;
    else if (r.method === 'PUT' && r.kind === 'report') c.reportPut += 1;
    else if (r.method === 'PUT') c.otherPut += 1;
    else c.other += 1;
  }
  return c;
}

/**
 * Per-agent counts over a window, scaled to one minute: for each field, the mean, min and max
 * over agents and the fleet's total per minute.
 */
export function perAgentPerMinute(countsPerAgent, windowS) {
  const scale = 60 / windowS;
  const fields = Object.keys(countsPerAgent[0] ?? {});
  const out = {};
  for (const f of fields) {
    const values = countsPerAgent.map((c) => c[f] * scale);
    out[f] = { mean: mean(values), min: Math.min(...values), max: Math.max(...values), fleet: values.reduce((a, b) => a + b, 0) };
  }
  return out;
}

/** Gaps between consecutive channel polls of each agent, in units of `pollIntervalS`. */
export function pollGaps(recordsPerAgent, pollIntervalS) {
  const gaps = [];
  for (const records of recordsPerAgent) {
    const polls = records.filter((r) => r.method === 'GET' && r.kind === 'channel').map((r) => r.start).sort((a, b) => a - b);
    for (let i = 1; i < polls.length; i++) gaps.push((polls[i] - polls[i - 1]) / 1000 / pollIntervalS);
  }
  return gaps;
}

/** Standard deviation over mean: 0 for a fixed interval, about 0.115 for a uniform ±20%. */
export function variation(values) {
  const m = mean(values);
  if (m === null || m === 0) return null;
  return Math.sqrt(mean(values.map((v) => (v - m) ** 2))) / m;
}

/**
 * One roll, per agent, in seconds after `t0`: when it read the changed channel (its first 200
 * on the channel), when it first turned unhealthy, and when it ran the target healthy.
 */
export function rollTimeline({ watched, recordsPerAgent, t0 }) {
  return watched.map((w, i) => {
    const read = recordsPerAgent[i].find((r) => r.method === 'GET' && r.kind === 'channel' && r.status === 200);
    const s = (t) => (t === null || t === undefined ? null : (t - t0) / 1000);
    return { id: w.id, detect: s(read?.end), unhealthy: s(w.unhealthyAt), converged: s(w.onTargetAt), failed: w.failed, last: w.last };
  });
}
