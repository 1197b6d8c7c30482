// The printed report of npm run bench:scale: per candidate design, peak request rates against
// each source's limit, requests and dollars per instance-month, change latency, and whether
// the goals hold. Formatting only; the numbers come from scale-evaluate.ts.
import { formatTable } from './report.mjs';

const int = (n) => (n === null || n === undefined ? 'n/a' : Math.round(n).toLocaleString('en-US'));
const sec = (s) => (s === null || s === undefined ? 'n/a' : `${s.toFixed(1)} s`);
const usd = (d) => `$${d < 0.1 ? d.toFixed(4) : d.toFixed(3)}`;
const yes = (ok) => (ok ? 'yes' : 'NO');
const rollText = (r) => (!r || r.waves <= 1 ? 'one wave' : `${r.waves} waves ${r.waveIntervalS} s apart`);

/** Prints every evaluation; `verdicts` holds verdictOf() per candidate name. */
export function printScaleReport({ evaluations, verdicts, goals, chosen, scaling, check, totalS }) {
  const out = [];
  const n = evaluations[0]?.instances ?? 0;
  out.push('', `herd fleet simulation: one role, ${int(n)} instances, a roll to a new release (100%, ${rollText(evaluations[0]?.roll)}), drain ${evaluations[0]?.drainS} s`);
  out.push('each simulated agent runs the agent\'s own loop timing, jitter, backoff, decideStep and report timing (agent/daemon, agent/rollout); only I/O is modelled');

  out.push('', 'PEAK REQUESTS PER SECOND (busiest second; a standard bucket\'s limit is per prefix, at least 5,500 GET and 3,500 PUT; a directory bucket\'s per bucket, 200,000 GET and 100,000 PUT by default)');
  const rateRows = [['design', 'source', 'GET: key', 'GET: prefix', 'GET: bucket', 'PUT: key', 'PUT: prefix', 'PUT: bucket', 'busiest vs its limit', 'within']];
  for (const e of evaluations) {
    for (const p of e.peaks) {
      const worst = p.worst ? `${int(p.worst.perS)} / ${int(p.worst.limit)} ${p.worst.method} (${p.worst.scope})` : 'no limit';
      rateRows.push([e.candidate.name, `${p.source.name}${p.source.down ? ' (down)' : ''}`, int(p.get.key.perS), int(p.get.prefix.perS), int(p.get.bucket.perS),
        int(p.put.key.perS), int(p.put.prefix.perS), int(p.put.bucket.perS), worst, yes(p.withinLimits)]);
    }
  }
  out.push(formatTable(rateRows));

  out.push('', 'IDLE COST PER INSTANCE-MONTH (730 h; list prices, us-east-1; CreateSession counted at the Express PUT price, none being published)');
  const costRows = [['design', 'standard GET', 'standard PUT', 'Express GET', 'Express PUT', 'CreateSession', 'CDN GET', 'requests', 'dollars']];
  for (const e of evaluations) {
    const cell = (type, kind) => {
      const r = e.cost.rows.find((x) => x.type === type && x.kind === kind);
      return r ? `${int(r.requests)} ${usd(r.dollars)}` : '-';
    };
    costRows.push([e.candidate.name, cell('standard', 'get'), cell('standard', 'put'), cell('express', 'get'), cell('express', 'put'), cell('express', 'session'), cell('cdn', 'get'),
      int(e.cost.requests), usd(e.cost.dollars)]);
  }
  out.push(formatTable(costRows));

  out.push('', 'CHANGE LATENCY: from the channel write to the instance running the new release healthy (p50 / p99 / last)');
  const latRows = [['design', 'drain excluded', 'drain included', 'applied', 'requests per instance in the roll']];
  for (const e of evaluations) {
    const l = e.latency;
    const f = (x) => `${sec(x.p50)} / ${sec(x.p99)} / ${sec(x.max)}`;
    const roll = Object.entries(e.perRoll).sort().map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
    latRows.push([e.candidate.name, f(l.withoutDrain), f(l.withDrain), `${int(l.inRollout - l.notApplied)}/${int(l.inRollout)}`, roll]);
  }
  out.push(formatTable(latRows));

  out.push('', `GOALS (set for ${int(goals.instances)} instances; this run: ${int(n)}): within the limits, p99 latency <= ${goals.latencyS} s plus drain` +
    `${evaluations[0]?.roll?.waves > 1 ? ' (counted from the roll, so waves add their delays)' : ''}, <= ${usd(goals.dollarsPerInstanceMonth)} per instance-month`);
  const goalRows = [['design', 'what', 'limits', 'latency', 'cost', 'all', 'herd can run it']];
  for (const e of evaluations) {
    const v = verdicts[e.candidate.name];
    goalRows.push([e.candidate.name, e.candidate.what, yes(v.limits), yes(v.latency), yes(v.cost), v.limits && v.latency && v.cost ? 'MEETS' : '-', e.candidate.needs ? `needs ${e.candidate.needs}` : 'today']);
  }
  out.push(formatTable(goalRows));
  out.push(chosen
    ? `chosen: ${chosen.name} (the cheapest design that meets every goal): pollIntervalS ${chosen.pollIntervalS}, reportHeartbeatS ${chosen.reportHeartbeatS}`
    : 'chosen: none of the designs meets every goal');

  if (scaling.length > 0) {
    out.push('', `SCALING of ${scaling[0].candidate.name}: the same design from 1,000 instances up`);
    const scaleRows = [['instances', 'GET/s busiest key', 'PUT/s busiest prefix', 'p99 latency, drain excluded', 'last', 'simulated passes', 'wall time']];
    for (const e of scaling) {
      const first = e.peaks.find((p) => !p.source.down) ?? e.peaks[0];
      scaleRows.push([int(e.instances), int(first.get.key.perS), int(first.put.prefix.perS), sec(e.latency.withoutDrain.p99), sec(e.latency.withoutDrain.max), int(e.passes), sec(e.ms / 1000)]);
    }
    out.push(formatTable(scaleRows));
  }

  if (check) {
    out.push('', `MODEL AGAINST REAL AGENTS: ${check.record.settings.agents} agents of npm run bench:fleet (${check.record.recordedAt}), pollIntervalS ${check.record.settings.pollS}, ` +
      `reportHeartbeatS ${check.record.settings.heartbeatS}, ${check.record.settings.idleS} s idle; requests per agent per minute`);
    const rows = [['what', 'real agents', 'model', 'difference', 'within 10%']];
    for (const r of check.rows) rows.push([r.what, r.real.toFixed(2), r.model.toFixed(2), `${(((r.model - r.real) / Math.max(r.real, 1)) * 100).toFixed(1)}%`, yes(r.ok)]);
    out.push(formatTable(rows));
    if (check.roll) {
      out.push(`and per agent in a roll (not a gate: it depends on how long a fetch and a start take; the model with timings like the local fleet's): ` +
        `report writes ${check.roll.real.toFixed(1)} real, ${check.roll.model.reportPut.toFixed(1)} model; requests ${check.roll.realTotal.toFixed(1)} real, ${check.roll.model.total.toFixed(1)} model`);
    }
  }
  out.push(`total ${sec(totalS)}`);
  console.log(out.join('\n'));
}
