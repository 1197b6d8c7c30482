// npm run bench:scale: a fleet of one role over simulated time, for each candidate design of
// where agents read the channel and write reports and how often (scripts/bench/scale-configs.ts):
// peak GET/s and PUT/s per key, prefix and bucket against S3's documented limits, requests and
// dollars per instance-month at list prices, and the change latency of a roll (p50/p99/last,
// drain excluded and included). The simulated agents run the agent's own timing and decision
// code; only the store and the app are modelled. Then the model against real agents: the
// counts npm run bench:fleet --record recorded, simulated with the same settings.
// A measurement: it exits 0 whatever the designs score (1 when --check-against-fleet misses).
//
//   node scripts/bench-scale.mjs [--instances N] [--design NAME]... [--all] [--waves N --wave-interval S] [--quick] [--seed N] [--jobs N] [--check-against-fleet FILE] [--json]
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

if (Number(process.versions.node.split('.')[0]) < 24) {
  console.error(`bench-scale: needs Node 24 (this is ${process.version}): npm run bench:scale, or PATH=node_modules/.bin:$PATH`);
  process.exit(2);
}
const { CANDIDATES, GOALS } = await import('./bench/scale-configs.ts');
const { verdictOf } = await import('./bench/scale-summary.ts');
const { compareWithFleet, modelPerAgentPerMinute, modelRollPerAgent } = await import('./bench/scale-check.ts');
const { printScaleReport } = await import('./bench/scale-report.mjs');

const ROOT = resolve(import.meta.dirname, '..');
const RECORDED = join(ROOT, 'scripts/bench/fleet-recorded.json');
const { values: flags } = parseArgs({
  options: {
    instances: { type: 'string' },
    design: { type: 'string', multiple: true },
    all: { type: 'boolean', default: false },
    waves: { type: 'string', default: '1' },
    'wave-interval': { type: 'string', default: '0' },
    quick: { type: 'boolean', default: false },
    seed: { type: 'string', default: '1' },
    jobs: { type: 'string' },
    'check-against-fleet': { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  console.log('usage: node scripts/bench-scale.mjs [--instances N] [--design NAME]... [--all] [--waves N --wave-interval S] [--quick] [--seed N] [--jobs N] [--check-against-fleet FILE] [--json]\n' +
    `  --instances N   fleet size (default ${GOALS.instances.toLocaleString('en-US')}; --quick 10,000)\n` +
    `  --design NAME   only this design (repeatable): ${CANDIDATES.map((c) => c.name).join(', ')}\n` +
    `  --all           every design (default: ${CANDIDATES.filter((c) => c.core).map((c) => c.name).join(', ')})\n` +
    '  --waves N --wave-interval S   roll in N waves, S seconds apart (default: at once)\n' +
    '  --seed N        the random seed (default 1); the same seed gives the same numbers\n' +
    '  --jobs N        worker threads (default: the cores, at most 2)\n' +
    '  --check-against-fleet FILE   compare the model with a bench:fleet --record FILE run; exit 1 beyond 10%\n' +
    `                  (without it, ${RECORDED.slice(ROOT.length + 1)} is compared when present)\n` +
    '  --json          print the numbers as JSON');
  process.exit(0);
}
const whole = (name, v, min) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number >= ${min}`);
  return n;
};
const instances = whole('instances', flags.instances ?? (flags.quick ? 10_000 : GOALS.instances), 1);
const seed = whole('seed', flags.seed, 0);
const waves = whole('waves', flags.waves, 1);
const waveIntervalS = whole('wave-interval', flags['wave-interval'], 0);
if (waves > 1 && waveIntervalS === 0) throw new Error('--waves above 1 needs --wave-interval SECONDS');
const jobs = whole('jobs', flags.jobs ?? Math.min(2, availableParallelism()), 1);
const designs = flags.design?.length ? flags.design.map((name) => {
  const c = CANDIDATES.find((x) => x.name === name);
  if (!c) throw new Error(`--design ${name}: no such design (${CANDIDATES.map((x) => x.name).join(', ')})`);
  return c;
}) : CANDIDATES.filter((c) => flags.all || c.core);

/** Runs evaluate() for every input on `jobs` worker threads, in order. */
async function evaluateAll(inputs) {
  const results = new Array(inputs.length);
  const workers = Array.from({ length: Math.min(jobs, inputs.length) }, () => new Worker(new URL('./bench/scale-worker.mjs', import.meta.url)));
  let next = 0;
  try {
    await Promise.all(workers.map((worker) => new Promise((resolveAll, reject) => {
      const give = () => {
        if (next >= inputs.length) return resolveAll();
        const id = next++;
        worker.postMessage({ id, input: inputs[id] });
      };
      worker.on('message', (m) => {
        if (m.error) return reject(new Error(`${inputs[m.id].candidate.name}: ${m.error}`));
        results[m.id] = m.result;
        process.stderr.write(`bench-scale: ${m.result.candidate.name} at ${m.result.instances.toLocaleString('en-US')} instances: ${(m.result.ms / 1000).toFixed(1)} s\n`);
        give();
      });
      worker.on('error', reject);
      give();
    })));
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}

const started = performance.now();
const evaluations = await evaluateAll(designs.map((candidate) => ({ candidate, instances, seed, waves, waveIntervalS })));
const verdicts = Object.fromEntries(evaluations.map((e) => [e.candidate.name, verdictOf({ peaks: e.peaks, latency: e.latency, dollars: e.cost.dollars }, GOALS)]));
const meeting = evaluations.filter((e) => Object.values(verdicts[e.candidate.name]).every(Boolean)).sort((a, b) => a.cost.dollars - b.cost.dollars);
const chosen = meeting[0]?.candidate ?? null;
const smaller = [1_000, 10_000].filter((n) => n < instances);
const scaling = chosen ? [...await evaluateAll(smaller.map((n) => ({ candidate: chosen, instances: n, seed, waves, waveIntervalS }))), evaluations.find((e) => e.candidate === chosen)] : [];

const checkFile = flags['check-against-fleet'] ?? (existsSync(RECORDED) ? RECORDED : null);
let check = null;
if (checkFile) {
  const record = JSON.parse(readFileSync(checkFile, 'utf8'));
  const rolls = record.rollPerAgent ?? [];
  check = {
    record, rows: compareWithFleet(record.idlePerAgentPerMinute, modelPerAgentPerMinute(record.settings, seed)),
    roll: rolls.length ? { real: rolls.reduce((a, r) => a + r.reportPut, 0) / rolls.length, realTotal: rolls.reduce((a, r) => a + r.total, 0) / rolls.length, model: modelRollPerAgent(record.settings, seed) } : null,
  };
}
if (flags.json) {
  console.log(JSON.stringify({ instances, seed, goals: GOALS, evaluations, verdicts, chosen: chosen?.name ?? null, scaling, check }, null, 2));
} else {
  printScaleReport({ evaluations, verdicts, goals: GOALS, chosen, scaling, check, totalS: (performance.now() - started) / 1000 });
}
if (flags['check-against-fleet'] && check && !check.rows.every((r) => r.ok)) process.exitCode = 1;
