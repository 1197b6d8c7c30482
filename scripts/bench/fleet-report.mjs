// The printed report of the fleet benchmark: idle request counts, convergence per roll and
// memory, as plain-text tables. Formatting only; the numbers come from fleet-stats.mjs.
import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { formatTable, MB, mb } from './report.mjs';
import { mean, spread, variation } from './fleet-stats.mjs';

/** The goal for an idle agent (issue 8), and the bar it must not cross. */
const IDLE_RSS_GOAL = 60 * MB;
const IDLE_RSS_BAR = 70 * MB;

const secs = (s) => (s === null || s === undefined ? 'n/a' : `${s.toFixed(2)} s`);
const f1 = (v) => (v === null || v === undefined ? 'n/a' : v.toFixed(1));

/** Prints the benchmark's tables to stdout. `opts` are the run's settings (agents, pollS, drainS). */
export function printFleetReport({ opts, nodeOptions, bootS, idle, rounds, procsBoot, procsEnd, memory, totalS }) {
  const times = (s) => (s === null || s === undefined ? '' : ` (${(s / opts.pollS).toFixed(2)}x)`);
  const pm = idle.perMinute;
  const row = (what, f, fmt = f1) => [what, fmt(pm[f].mean), fmt(pm[f].min), fmt(pm[f].max), fmt(pm[f].fleet)];
  const bytes = (v) => (v >= 10_000 ? `${(v / 1024).toFixed(1)} KiB` : `${Math.round(v)} B`);
  const meanOf = (procs, k) => mean(procs.map((p) => p[k]));
  const idleRows = [
    ['per agent per minute', 'mean', 'min', 'max', 'fleet total'],
    row('S3 requests, all', 'total'),
    row('  GET channel -> 304, no body', 'channel304'),
    row('  GET channel -> 200, with body', 'channel200'),
    row('  GET anything else', 'getsElse'),
    row('  PUT instance report', 'reportPut'),
    row('  any other request', 'writesElse'),
    row('  failed (5xx or proxy error)', 'errors'),
    row('responses with a body', 'withBody'),
    row('response body bytes', 'down', bytes),
    row('request body bytes (PUT)', 'up', bytes),
    row('new TCP connections (*)', 'connections'),
    row('agent CPU time, ms', 'cpuMs', (v) => v.toFixed(0)),
  ];
  const g = spread(idle.gaps);
  const f2 = (v) => (v === null || v === undefined ? 'n/a' : v.toFixed(2));
  const gapLine = `gap between an agent's channel polls / pollIntervalS: min ${f2(g.first)}, median ${f2(g.median)}, max ${f2(g.last)}, ` +
    `variation ${variation(idle.gaps) === null ? 'n/a' : variation(idle.gaps).toFixed(3)} (n=${g.n}; a uniform ±20% jitter gives 0.80..1.20 and 0.115)`;

  const convRows = [['round', 'release', 'on it', 'first', 'median', 'p90', 'last', 'failed', 'unhealthy at once (peak)']];
  const detailRows = [['round', 'what (s after the channel write; x pollIntervalS)', 'first', 'median', 'p90', 'last']];
  const reqRows = [['round', 'per agent, during the roll', 'mean', 'min', 'max']];
  for (const [i, r] of rounds.entries()) {
    const conv = spread(r.timeline.filter((t) => t.converged !== null).map((t) => t.converged));
    const failed = r.timeline.filter((t) => t.converged === null);
    convRows.push([i + 1, r.release, `${conv.n}/${r.timeline.length}`, secs(conv.first) + times(conv.first), secs(conv.median) + times(conv.median),
      secs(conv.p90) + times(conv.p90), secs(conv.last) + times(conv.last), failed.length ? failed.map((t) => t.id).join(' ') : 'none',
      `${r.peakUnhealthy}/${r.timeline.length} (${Math.round((100 * r.peakUnhealthy) / r.timeline.length)}%)`]);
    const detect = spread(r.timeline.filter((t) => t.detect !== null).map((t) => t.detect));
    const apply = spread(r.timeline.filter((t) => t.detect !== null && t.converged !== null).map((t) => t.converged - t.detect));
    const down = spread(r.timeline.filter((t) => t.unhealthy !== null && t.converged !== null).map((t) => t.converged - t.unhealthy));
    for (const [what, s, mult] of [['read the changed channel', detect, true], ['apply: read -> healthy on it', apply, false], ['out of the balancer (unhealthy -> healthy)', down, false]]) {
      detailRows.push([i + 1, what, ...['first', 'median', 'p90', 'last'].map((k) => secs(s[k]) + (mult ? times(s[k]) : ''))]);
    }
    const stat = (f, fmt = (v) => String(v)) => {
      const v = r.counts.map((c) => c[f]);
      return [fmt(mean(v)), fmt(Math.min(...v)), fmt(Math.max(...v))];
    };
    reqRows.push([i + 1, 'S3 requests, all', ...stat('total', f1)]);
    reqRows.push([i + 1, '  GET channel (304 / 200)', `${f1(mean(r.counts.map((c) => c.channel304)))} / ${f1(mean(r.counts.map((c) => c.channel200)))}`, '', '']);
    reqRows.push([i + 1, '  GET manifest + blob', ...stat('manifestGet', f1).map((m, k) => `${m} + ${stat('blobGet', f1)[k]}`)]);
    reqRows.push([i + 1, '  GET anything else (signatures...)', ...stat('otherGet', f1)]);
    reqRows.push([i + 1, '  PUT instance report', ...stat('reportPut', f1)]);
    reqRows.push([i + 1, 'response body bytes', ...stat('down', (v) => bytes(v))]);
  }

  const rssIdle = idle.rss;
  const rssEnd = procsEnd.map((p) => p.rss);
  const hwm = procsEnd.map((p) => p.hwm);
  const appEnd = procsEnd.map((p) => p.appRss);
  const avgIdle = mean(rssIdle);
  const memInfo = readMemAvailable();
  const pair = mean(rssEnd) + mean(appEnd);
  const memRows = [
    ['what', 'value', 'goal', 'result'],
    [`agents, peak total VmRSS (${opts.agents} agents)`, mb(memory.agents), '', ''],
    [`apps, peak total VmRSS (${opts.agents} apps)`, mb(memory.apps), '', ''],
    ['agents + apps, peak total', mb(memory.both), '', ''],
    [`agent VmRSS, mean: all healthy / end of idle / after ${rounds.length} roll(s)`, [procsBoot, idle.procs, procsEnd].map((p) => mb(meanOf(p, 'rss'))).join(' / '), '', ''],
    ['agent VmRSS at the end of idle: mean (min..max)', `${mb(avgIdle)} (${mb(Math.min(...rssIdle))}..${mb(Math.max(...rssIdle))})`,
      `< ${mb(IDLE_RSS_GOAL)} (bar ${mb(IDLE_RSS_BAR)})`, Math.max(...rssIdle) < IDLE_RSS_GOAL ? 'PASS' : Math.max(...rssIdle) < IDLE_RSS_BAR ? 'BAR' : 'MISS'],
    ['  private (RssAnon) / file-backed, shared by all node processes (RssFile)', `${mb(meanOf(idle.procs, 'anon'))} / ${mb(meanOf(idle.procs, 'file'))}`, '', ''],
    ...(idle.heaps.length ? [['  V8 heap used / heap total / external, from its /metrics',
      ['heapUsed', 'heapTotal', 'external'].map((k) => mb(mean(idle.heaps.map((h) => h[k])))).join(' / '), '', '']] : []),
    ...(idle.bare ? [['bare node, idle, same binary: VmRSS (RssAnon / RssFile)', `${mb(idle.bare.rss)} (${mb(idle.bare.anon)} / ${mb(idle.bare.file)})`, '', '']] : []),
    ['agent VmHWM (its peak since start): mean (max)', `${mb(mean(hwm))} (${mb(Math.max(...hwm))})`, '', ''],
    ['app VmRSS at the end: mean', mb(mean(appEnd)), '', ''],
  ];

  console.log([
    '',
    `herd fleet benchmark: ${opts.agents} agents on one channel, pollIntervalS ${opts.pollS}, reportHeartbeatS ${opts.heartbeatS}, drainS ${opts.drainS}, app examples/hello-app`,
    `machine: ${availableParallelism()} cores, ${mb(totalmem())} RAM, node ${process.version}; local s3rver over HTTP, one counting proxy per agent` +
      (nodeOptions ? `; agents' NODE_OPTIONS=${nodeOptions}` : ''),
    `boot: all ${opts.agents} agents healthy on v1 ${secs(bootS)} after the first was spawned`,
    '',
    `IDLE: ${idle.windowS.toFixed(0)} s window, every agent healthy on v1 (counts scaled to one minute)`,
    formatTable(idleRows),
    gapLine,
    ...(idle.failures.length ? [`failed requests while idle: ${idle.failures.join('; ')}`] : []),
    '(*) the proxy keeps an idle client connection open 60 s; fewer connections than requests means the agent reuses them',
    '',
    `CONVERGENCE: herd roll to a new release (a code change) at 100%, t=0 when the store acknowledged the channel write` +
      (rounds.every((r) => r.t0FromPut) ? '' : ' (or the roll exited)') + `; /status of every agent read every 100 ms`,
    formatTable(convRows),
    `(an agent sees the change at its next poll, at most 1.2x pollIntervalS away, then drains ${opts.drainS} s and restarts the app; ` +
      '"unhealthy at once" counts agents whose /status said unhealthy, or did not answer, in the same 100 ms snapshot)',
    '',
    formatTable(detailRows),
    '',
    formatTable(reqRows),
    ...rounds.filter((r) => r.failures.length).map((r) => `failed requests during the roll to ${r.release}: ${r.failures.join('; ')}`),
    ...rounds.flatMap((r) => r.timeline.filter((t) => t.converged === null).map((t) =>
      `  ${r.release}: ${t.id} did not converge: ${t.failed ?? (t.last ? `${t.last.state} on ${t.last.release}, lastError ${t.last.lastError}` : 'no answer')}`)),
    '',
    'MEMORY: VmRSS from /proc, the fleet sampled every second',
    formatTable(memRows),
    memInfo ? `machine: ${mb(memInfo)} still available; at ${mb(pair)} per agent + app that is room for about ${Math.floor(memInfo / pair)} more (CPU: ${availableParallelism()} cores shared by all)` : null,
    `total ${secs(totalS)}`,
  ].filter((l) => l !== null).join('\n'));
}

function readMemAvailable() {
  try {
    const text = readFileSync('/proc/meminfo', 'utf8');
    const kb = Number(/^MemAvailable:\s+(\d+) kB/m.exec(text)?.[1]);
    return Number.isFinite(kb) ? kb * 1024 : null;
  } catch {
    return null;
  }
}
