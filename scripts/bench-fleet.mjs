// npm run bench:fleet: a fleet of real agents on one channel, against a local S3 server
// (s3rver over HTTP) with a counting proxy in front of each agent.
//   1. idle: S3 requests per agent per minute, how many carry a body, bytes, poll spacing
//   2. convergence: `herd roll` to a new release at 100%; for each agent, when it read the
//      changed channel and when it ran the new release healthy; first/median/p90/last, also
//      as multiples of pollIntervalS; repeated for each round (v2, v3, ...)
//   3. memory: VmRSS of the agents and of their apps from /proc (goal: agent idle < 60 MB, bar 70 MB)
// A measurement, not a test: it exits 0 whatever it measures (1 only when it cannot run).
//
// --record FILE keeps the idle counts and the settings as JSON, for npm run bench:scale to
// check its model against (scripts/bench/fleet-recorded.json is the run it checks by default).
//
//   node scripts/bench-fleet.mjs [--agents N] [--poll S] [--heartbeat S] [--idle S] [--rounds N] [--drain S] [--quick] [--record FILE] [--work-dir DIR] [--node-options=S] [--herd FILE]
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startLocalS3, LOCAL_S3_CREDENTIALS } from '../support/local-s3.ts';
import { run, start, stopAll } from './bench/procs.mjs';
import { startCountingProxy } from './bench/fleet-proxy.mjs';
import { procNumbers, readHeap, sampleProcs, startFleet, stopFleet, waitFleetOn } from './bench/fleet-agents.mjs';
import { watchConvergence } from './bench/fleet-watch.mjs';
import { countRequests, describeFailures, mean, perAgentPerMinute, pollGaps, rollTimeline } from './bench/fleet-stats.mjs';
import { printFleetReport } from './bench/fleet-report.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const BUCKET = 'herd-bench';
const ROLE = 'fleet';

const { values: flags } = parseArgs({
  options: {
    agents: { type: 'string' },
    poll: { type: 'string' },
    heartbeat: { type: 'string' },
    record: { type: 'string' },
    idle: { type: 'string' },
    rounds: { type: 'string' },
    drain: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'work-dir': { type: 'string' },
    'node-options': { type: 'string' },
    herd: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
const HERD = resolve(flags.herd ?? join(ROOT, 'dist/herd.mjs'));
if (flags.help) {
  console.log('usage: node scripts/bench-fleet.mjs [--agents N] [--poll S] [--heartbeat S] [--idle S] [--rounds N] [--drain S] [--quick] [--record FILE] [--work-dir DIR] [--node-options=S] [--herd FILE]\n' +
    '  --agents N   agents on the channel, each with its app (default 20; --quick 10)\n' +
    '  --poll S     the agents\' pollIntervalS (default 5)\n' +
    '  --heartbeat S   the agents\' reportHeartbeatS (default 60, so the idle window sees report writes)\n' +
    '  --idle S     seconds of the idle window the requests are counted over (default 60; --quick 20)\n' +
    '  --rounds N   rolls to a new release, each measured (default 2)\n' +
    '  --drain S    the agents\' drainS (default 1)\n' +
    '  --record FILE   also write the idle counts and settings as JSON (for npm run bench:scale --check-against-fleet FILE)\n' +
    '  --work-dir D where the store and the agents\' data dirs live (default: the OS temp dir)\n' +
    '  --node-options=S   NODE_OPTIONS for the agents only (their apps do not inherit it), to try V8 settings;\n' +
    '               give it with "=" since it starts with a dash: --node-options=--max-semi-space-size=1\n' +
    '  --herd FILE  the herd.mjs to run (default dist/herd.mjs), e.g. an earlier build to compare with');
  process.exit(0);
}
const number = (name, fallback, { integer = false, min = 0 } = {}) => {
  const n = flags[name] === undefined ? fallback : Number(flags[name]);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be ${integer ? 'a whole number' : 'a number'} >= ${min}`);
  return n;
};
const opts = {
  agents: number('agents', flags.quick ? 10 : 20, { integer: true, min: 1 }),
  pollS: number('poll', 5, { min: 0.1 }),
  heartbeatS: number('heartbeat', 60, { min: 1 }),
  idleS: number('idle', flags.quick ? 20 : 60, { min: 1 }),
  rounds: number('rounds', 2, { integer: true, min: 1 }),
  drainS: number('drain', 1),
};

const env = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: process.env.HOME ?? '/tmp',
  AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
  AWS_REGION: 'us-east-1',
};
const log = (line) => process.stderr.write(`bench-fleet: ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

let work;
let s3;
let operator;
let agents = [];
let sampler;
let cleaning;
function cleanup() {
  cleaning ??= (async () => {
    sampler?.stop();
    await stopFleet(agents, work ?? '/nonexistent');
    await stopAll();
    await operator?.close();
    await s3?.close();
    if (work) await rm(work, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`${signal}: stopping the agents and removing ${work ?? 'nothing'}`);
    cleanup().finally(() => process.exit(130));
  });
}

async function main() {
  const started = now();
  work = await mkdtemp(join(resolve(flags['work-dir'] ?? tmpdir()), 'herd-fleet-'));
  s3 = await startLocalS3({ directory: join(work, 's3'), buckets: [BUCKET] });
  operator = await startCountingProxy({ target: s3.endpoint, name: 'operator' });
  const releases = Array.from({ length: opts.rounds + 1 }, (_, i) => `v${i + 1}`);
  for (const release of releases) await publish(release);
  await herd(['roll', '--bucket', BUCKET, '--endpoint', s3.endpoint, '--role', ROLE, '--release', 'v1', '--json']);
  log(`published ${releases.join(', ')}; v1 rolled; starting ${opts.agents} agents (pollIntervalS ${opts.pollS}, drainS ${opts.drainS})`);

  const bootStart = now();
  agents = await startFleet({
    count: opts.agents, role: ROLE, work, bucket: BUCKET, s3Endpoint: s3.endpoint, herd: HERD,
    env: { ...env, ...(flags['node-options'] ? { NODE_OPTIONS: flags['node-options'] } : {}) },
    settings: { pollIntervalS: opts.pollS, drainS: opts.drainS, reportHeartbeatS: opts.heartbeatS },
  });
  sampler = startSampler(agents);
  // For reference: node itself, idle, the same binary the agents run on.
  const bare = start(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { env });
  await waitFleetOn(agents, 'v1', 60_000 + opts.agents * 3_000);
  const bootS = (now() - bootStart) / 1000;
  const procsBoot = await sampleProcs(agents);
  log(`all ${opts.agents} healthy on v1 after ${bootS.toFixed(1)} s; settling ${Math.max(3, 1.5 * opts.pollS)} s, then idling ${opts.idleS} s`);

  // 1. Idle: the window starts once the boot's report writes are done.
  await sleep(Math.max(3, 1.5 * opts.pollS) * 1000);
  const idleFrom = now();
  const procsBefore = await sampleProcs(agents);
  await sleep(opts.idleS * 1000);
  const idleTo = now();
  const procsAfter = await sampleProcs(agents);
  const idle = idleFigures(idleFrom, idleTo, procsBefore, procsAfter);
  idle.heaps = (await Promise.all(agents.map(readHeap))).filter((h) => h !== null);
  idle.bare = await procNumbers(bare.child.pid);
  log(`idle: ${idle.perMinute.total.mean.toFixed(1)} requests per agent per minute`);

  // 2. Rolls.
  const rounds = [];
  for (const release of releases.slice(1)) {
    rounds.push(await rollRound(release));
    await sleep(Math.max(2, opts.pollS) * 1000);
  }

  const procsEnd = await sampleProcs(agents);
  sampler.stop();
  printFleetReport({ opts, nodeOptions: flags['node-options'], bootS, idle, rounds, procsBoot, procsEnd, memory: sampler.peaks, totalS: (now() - started) / 1000 });
  if (flags.record) await writeFile(flags.record, `${JSON.stringify(fleetRecord(idle, rounds), null, 2)}\n`);
}

/** What npm run bench:scale checks its model against: the settings and the idle requests per agent per minute (means over agents). */
function fleetRecord(idle, rounds) {
  const pm = (f) => Number(idle.perMinute[f].mean.toFixed(3));
  return {
    recordedAt: new Date().toISOString(),
    settings: { agents: opts.agents, pollS: opts.pollS, heartbeatS: opts.heartbeatS, drainS: opts.drainS, idleS: Number(idle.windowS.toFixed(1)) },
    idlePerAgentPerMinute: {
      total: pm('total'), channel304: pm('channel304'), channel200: pm('channel200'), reportPut: pm('reportPut'), getsElse: pm('getsElse'), writesElse: pm('writesElse'),
    },
    rollPerAgent: rounds.map((r) => ({
      release: r.release,
      reportPut: Number(mean(r.counts.map((c) => c.reportPut)).toFixed(2)),
      total: Number(mean(r.counts.map((c) => c.total)).toFixed(2)),
    })),
  };
}

async function herd(args) {
  return run(process.execPath, [HERD, ...args], { env });
}

/** v1 is examples/hello-app with its config; later releases are the same app with one file changed (a code change). */
async function publish(release) {
  let code = join(ROOT, 'examples/hello-app');
  if (release !== 'v1') {
    code = join(work, `code-${release}`);
    await cp(join(ROOT, 'examples/hello-app'), code, { recursive: true });
    await writeFile(join(code, 'VERSION'), `${release}\n`);
  }
  await herd(['publish', '--bucket', BUCKET, '--endpoint', s3.endpoint, '--role', ROLE, '--code', code,
    '--config', join(ROOT, 'examples/hello-config'), '--release', release, '--json']);
}

/** Every second: the sum of VmRSS of the agents and of the apps; keeps the peaks. */
function startSampler(fleet) {
  const peaks = { agents: 0, apps: 0, both: 0 };
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const sample = await sampleProcs(fleet);
      const a = sample.reduce((s, p) => s + p.rss, 0);
      const b = sample.reduce((s, p) => s + p.appRss, 0);
      peaks.agents = Math.max(peaks.agents, a);
      peaks.apps = Math.max(peaks.apps, b);
      peaks.both = Math.max(peaks.both, a + b);
    } finally {
      busy = false;
    }
  }, 1_000);
  return { peaks, stop: () => clearInterval(timer) };
}

function idleFigures(from, to, before, after) {
  const windowS = (to - from) / 1000;
  const records = agents.map((a) => a.proxy.between(from, to));
  const counts = records.map(countRequests);
  const ticksPerS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  counts.forEach((c, i) => {
    c.connections = agents[i].proxy.connectionsBetween(from, to);
    c.getsElse = c.manifestGet + c.blobGet + c.otherGet + c.channelOther;
    c.writesElse = c.otherPut + c.other;
    c.cpuMs = ((after[i].cpuTicks - before[i].cpuTicks) / ticksPerS) * 1000;
  });
  const gaps = pollGaps(records, opts.pollS);
  return { windowS, perMinute: perAgentPerMinute(counts, windowS), gaps, failures: describeFailures(records.flat()), procs: after, rss: after.map((p) => p.rss) };
}

/** Rolls to `release` through the operator's proxy, so t0 is when the store acknowledged the channel write. */
async function rollRound(release) {
  const watch = watchConvergence(agents, release);
  const rollStart = now();
  await herd(['roll', '--bucket', BUCKET, '--endpoint', operator.endpoint, '--role', ROLE, '--release', release, '--json']);
  const rollExit = now();
  const put = operator.between(rollStart, rollExit).find((r) => r.method === 'PUT' && r.kind === 'channel' && r.status === 200);
  const t0 = put?.end ?? rollExit;
  const result = await watch.done(30_000 + (4 * opts.pollS + 2 * opts.drainS) * 1000);
  await sleep(2_000); // the reports written right after the switch belong to the roll
  const timeline = rollTimeline({ watched: result.agents, recordsPerAgent: agents.map((a) => a.proxy.between(rollStart, now())), t0 });
  const counts = agents.map((a) => countRequests(a.proxy.between(rollStart, now())));
  const converged = timeline.filter((t) => t.converged !== null);
  log(`roll to ${release}: ${converged.length}/${agents.length} converged` +
    (converged.length ? `, the last ${Math.max(...converged.map((t) => t.converged)).toFixed(2)} s after the channel write` : ''));
  const failures = describeFailures(agents.flatMap((a) => a.proxy.between(rollStart, now())));
  return { release, timeline, counts, failures, peakUnhealthy: result.peakUnhealthy, ticks: result.ticks, t0FromPut: Boolean(put) };
}

try {
  await main();
} catch (err) {
  if (!cleaning) {
    console.error(`bench-fleet failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    process.exitCode = 1;
  }
} finally {
  await cleanup();
}
