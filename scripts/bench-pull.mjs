// npm run bench: how `herd pull` compares with the plainest shell equivalent on the same
// object from a local S3 server (s3rver over HTTP), and how much memory herd needs.
//   1. wall time: `herd pull` against `curl | tee >(sha256sum) | tar xz`, median of
//      alternating runs into fresh directories; goal herd/baseline <= 1.3
//   2. pull peak RSS, and again with a bundle twice the size holding one file as large
//      as the whole first bundle; goal < 150 MB for both (streaming end to end)
//   3. agent idle RSS with a small release running, each way it runs on an instance (`node
//      <the bundle's shebang flags> herd.mjs`, and the executable dist/herd when built), next
//      to a bare node on the same node binary; goal < 60 MB (bar: 70 MB). The agent reaches
//      the store over HTTPS, as S3 on AWS, through a TLS proxy in front of s3rver with a
//      throwaway certificate it trusts by NODE_EXTRA_CA_CERTS (the bare node gets the same).
// A measurement, not a test: it exits 0 when a goal is missed, and says so.
//
//   node scripts/bench-pull.mjs [--runs N] [--size-mb N] [--quick] [--work-dir DIR] [--idle-s N] [--idle-over https|http] [--node-options S] [--herd FILE] [--sea FILE] [--keep]
import { existsSync } from 'node:fs';
import { copyFile, cp, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { dropPageCache, measureAgentIdle, waysToRun } from './bench/agent-idle.mjs';
import { startTlsFront } from './bench/tls-front.mjs';
import { HAVE_GNU_TIME, measure, run, stopAll } from './bench/procs.mjs';
import { createPullRuns } from './bench/pull-runs.mjs';
import { formatTable, MB, mb, median, ratio, secs, verdict } from './bench/report.mjs';
import { describeFilesystem } from './bench/fs-info.mjs';
import { cachedTree } from './bench/tree.mjs';

// The local store comes from the project's own TypeScript, which Node runs directly from 24 on.
if (Number(process.versions.node.split('.')[0]) < 24) {
  console.error(`bench: needs Node 24 (this is ${process.version}): npm run bench, or PATH=node_modules/.bin:$PATH`);
  process.exit(2);
}
const { startLocalS3, LOCAL_S3_CREDENTIALS } = await import('../support/local-s3.ts');

const ROOT = resolve(import.meta.dirname, '..');
const BUCKET = 'herd-bench';
const GOALS = { ratio: 1.3, pullRss: 150 * MB, idleRss: 60 * MB, idleRssBar: 70 * MB };

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string' },
    'size-mb': { type: 'string' },
    quick: { type: 'boolean', default: false },
    'work-dir': { type: 'string' },
    'idle-s': { type: 'string' },
    'idle-over': { type: 'string', default: 'https' },
    'node-options': { type: 'string' },
    herd: { type: 'string' },
    sea: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  console.log('usage: node scripts/bench-pull.mjs [--runs N] [--size-mb N] [--quick] [--work-dir DIR] [--idle-s N] [--idle-over https|http] [--node-options S] [--herd FILE] [--sea FILE] [--keep]\n' +
    '  --runs N       timed runs of each side after one warm-up each (default 5; --quick 2)\n' +
    '  --size-mb N    unpacked size of the bundle, ~47 files per MB (default 150; --quick 20)\n' +
    '  --work-dir D   where the store, extractions and agent live (default: the OS temp dir)\n' +
    '  --idle-s N     seconds the agent idles before its RSS is read (default 120; --quick 3)\n' +
    '  --idle-over P  how the idle agent reaches the store: https (default, as S3 on AWS: a TLS proxy in front of\n' +
    '                 the local store, its throwaway certificate trusted by NODE_EXTRA_CA_CERTS) or http (the store as is);\n' +
    '                 the pulls always go over plain HTTP\n' +
    '  --node-options S   NODE_OPTIONS for the herd processes and the bare node, to try V8 settings (dist/herd ignores it)\n' +
    '  --herd FILE    the herd CLI to measure (default dist/herd.mjs), e.g. an experimental build\n' +
    '  --sea FILE     the single executable whose idle agent is measured too (default: herd beside --herd)\n' +
    '  --keep         leave the work dir (store, every run\'s output) in place and print where');
  process.exit(0);
}
const positive = (name, fallback) => {
  const n = flags[name] === undefined ? fallback : Number(flags[name]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
};
const HERD_SOURCE = resolve(flags.herd ?? join(ROOT, 'dist/herd.mjs'));
const SEA_SOURCE = resolve(flags.sea ?? join(dirname(HERD_SOURCE), 'herd'));
/** A copy taken at the start, so a rebuild of dist/ while the bench runs cannot change what is measured. */
let HERD;
if (!['https', 'http'].includes(flags['idle-over'])) throw new Error(`--idle-over takes https or http, got ${JSON.stringify(flags['idle-over'])}`);
const opts = {
  runs: positive('runs', flags.quick ? 2 : 5),
  sizeMb: positive('size-mb', flags.quick ? 20 : 150),
  // Read after two minutes: without its heap compaction (agent/heap-compaction.ts) an idle
  // agent crept up by 2-3 MB over its first minutes; a reading at 10 s would not show that.
  idleS: positive('idle-s', flags.quick ? 3 : 120),
};

const env = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: process.env.HOME ?? '/tmp',
  AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
  AWS_REGION: 'us-east-1',
  ...(flags['node-options'] ? { NODE_OPTIONS: flags['node-options'] } : {}),
};
const log = (line) => process.stderr.write(`bench: ${line}\n`);

let work;
let s3;
let tlsFront;
let cleaning;
function cleanup() {
  cleaning ??= (async () => {
    await stopAll();
    await tlsFront?.close();
    await s3?.close();
    if (work && flags.keep) log(`kept ${work}`);
    else if (work) await rm(work, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`${signal}: stopping children and removing ${work ?? 'nothing'}`);
    cleanup().finally(() => process.exit(130));
  });
}

async function main() {
  const benchStarted = performance.now();
  const small = tree({ sizeMb: opts.sizeMb });
  const big = tree({ sizeMb: opts.sizeMb, extraFileMb: opts.sizeMb });
  work = await mkdtemp(join(resolve(flags['work-dir'] ?? tmpdir()), 'herd-bench-'));
  const fsInfo = describeFilesystem(work);
  const fsType = `${fsInfo.type} (${fsInfo.source})`;
  log(`work dir ${work} on ${fsType}; ${opts.runs} timed runs each, ${opts.sizeMb} MB bundle`);
  HERD = join(work, 'herd.mjs');
  await copyFile(HERD_SOURCE, HERD);
  // The chunks herd.mjs loads (npm run build splits it) go beside it.
  const chunks = join(dirname(HERD_SOURCE), 'herd-chunks');
  if (existsSync(chunks)) await cp(chunks, join(work, 'herd-chunks'), { recursive: true });
  const pulls = createPullRuns({ herdFile: HERD, env, work, log });

  s3 = await startLocalS3({ directory: join(work, 's3'), buckets: [BUCKET] });
  const store = ['--bucket', BUCKET, '--endpoint', s3.endpoint];
  const smallRef = await publishAndRoll(store, 'bench', small.dir, 'small-1');
  const bigRef = await publishAndRoll(store, 'bench-big', big.dir, 'big-1');
  const urlSmall = await pulls.blobUrl(s3.endpoint, BUCKET, smallRef.digest);
  const urlBig = await pulls.blobUrl(s3.endpoint, BUCKET, bigRef.digest);

  const rounds = opts.runs + 1;
  await pulls.decideKeep(rounds * (2 * small.bytes + smallRef.size) + 2 * big.bytes + bigRef.size);

  // 1. Alternating runs, the order flipped every round; round 0 warms both up.
  const times = { herd: [], base: [] };
  const rss = { herd: [], base: [] };
  for (let round = 0; round <= opts.runs; round++) {
    const order = round % 2 === 0 ? ['herd', 'base'] : ['base', 'herd'];
    for (const side of order) {
      const r = side === 'herd' ? await pulls.herdPull(store, 'bench', small.files) : await pulls.baselinePull(urlSmall, small.files);
      if (round === 0) continue;
      times[side].push(r.seconds);
      rss[side].push(r.peakRss);
    }
    if (round > 0) log(`round ${round}/${opts.runs}: herd ${secs(times.herd.at(-1))}, baseline ${secs(times.base.at(-1))}`);
  }

  // 2. The bigger bundle: one pull each, for peak RSS (and a single timing for reference).
  const bigHerd = await pulls.herdPull(store, 'bench-big', big.files);
  const bigBase = await pulls.baselinePull(urlBig, big.files);
  log(`big bundle: herd ${secs(bigHerd.seconds)} ${mb(bigHerd.peakRss)}, baseline ${secs(bigBase.seconds)}`);

  // Context: what herd costs before it does anything (module loading), against bare node.
  const startup = { herd: [], bare: [] };
  for (let i = 0; i < 3; i++) {
    startup.herd.push(await measure(process.execPath, [HERD, '--version'], { env, rssFile: join(work, 'rss.txt') }));
    startup.bare.push(await measure(process.execPath, ['-e', '0'], { env, rssFile: join(work, 'rss.txt') }));
  }

  // 3. The agent, idle with a small release running, each way it runs on an instance; the
  // store over HTTPS as on AWS (publishing goes straight to s3rver), unless --idle-over http.
  const overHttps = flags['idle-over'] === 'https';
  if (overHttps) tlsFront = await startTlsFront({ target: s3.endpoint, dir: join(work, 'tls') });
  const idleStore = overHttps
    ? { agentEndpoint: tlsFront.endpoint, agentEnv: { ...env, NODE_EXTRA_CA_CERTS: tlsFront.caFile } }
    : {};
  const ways = waysToRun(HERD, SEA_SOURCE);
  const idles = [];
  for (const way of ways) {
    // The executable runs where it was built (a running one is replaced by rename, never overwritten).
    if (way.executable && !dropPageCache(way.executable)) log(`could not drop ${way.executable} from the page cache; its RSS may read high`);
    const tlsBefore = tlsFront?.connections() ?? 0;
    const idle = await measureAgentIdle({
      herdFile: HERD, herdCommand: way.command, env, endpoint: s3.endpoint, ...idleStore, bucket: BUCKET, work: join(work, `idle-${idles.length}`), idleS: opts.idleS, log,
      appDir: join(ROOT, 'examples/hello-app'), configDir: join(ROOT, 'examples/hello-config'),
    });
    if (overHttps && tlsFront.connections() === tlsBefore) throw new Error(`the idle agent (${way.label}) never connected through the TLS proxy`);
    log(`agent idle (${way.label}): ${mb(idle.agentRss)} (peak ${mb(idle.agentHwm)}), bare node ${mb(idle.bareRss)}`);
    idles.push({ way, idle });
  }

  const tHerd = median(times.herd);
  const tBase = median(times.base);
  const smallRss = maxOrNull(rss.herd);
  const bigRss = bigHerd.peakRss;
  const under = (v, goal) => (v === null ? null : v < goal);
  const rows = [
    ['what', 'herd', 'baseline', 'ratio', 'goal', 'result'],
    [`pull wall time, median of ${opts.runs}`, secs(tHerd), secs(tBase), ratio(tHerd, tBase), `ratio <= ${GOALS.ratio}`, verdict(tHerd / tBase <= GOALS.ratio)],
    [`pull peak RSS (max of ${opts.runs}), ${describe(small, smallRef)}`, mb(smallRss), `${mb(maxOrNull(rss.base))} (largest process)`, '', `< ${mb(GOALS.pullRss)}`, verdict(under(smallRss, GOALS.pullRss))],
    [`pull peak RSS, ${describe(big, bigRef)}`, mb(bigRss), `${mb(bigBase.peakRss)} (largest process)`, `${ratio(bigRss, smallRss)} of above`, `< ${mb(GOALS.pullRss)}`, verdict(under(bigRss, GOALS.pullRss))],
    [`pull wall time, ${describe(big, bigRef)}, 1 run`, secs(bigHerd.seconds), secs(bigBase.seconds), ratio(bigHerd.seconds, bigBase.seconds), '(reference)', ''],
    ['start-up alone: `herd --version` vs `node -e 0`, median of 3', secs(median(startup.herd.map((r) => r.seconds))),
      secs(median(startup.bare.map((r) => r.seconds))), '', '(reference)', ''],
    ['start-up alone, peak RSS', mb(maxOrNull(startup.herd.map((r) => r.peakRss))), mb(maxOrNull(startup.bare.map((r) => r.peakRss))), '', '(reference)', ''],
    ...idles.map(({ way, idle }) => [
      `agent idle RSS after ${opts.idleS} s, store over ${overHttps ? 'HTTPS' : 'HTTP'}, ${way.label} (peak ${mb(idle.agentHwm)})`, mb(idle.agentRss), `${mb(idle.bareRss)} (bare node)`,
      ratio(idle.agentRss, idle.bareRss), `< ${mb(GOALS.idleRss)} (bar ${mb(GOALS.idleRssBar)})`, idleVerdict(idle.agentRss),
    ]),
  ];
  const missed = rows.slice(1).filter((r) => r[5] === 'MISS' || r[5] === 'BAR').map((r) => (r[5] === 'BAR' ? `${r[0]} (within the bar)` : r[0]));
  console.log([
    '',
    `herd pull benchmark: ${availableParallelism()} cores, node ${process.version}, work dir on ${fsType}, local s3rver over HTTP` +
      (overHttps ? ' (the idle agent\'s over HTTPS, through a TLS proxy)' : '') +
      (env.NODE_OPTIONS ? `, NODE_OPTIONS=${env.NODE_OPTIONS}` : '') + (flags.herd ? `, herd ${HERD_SOURCE}` : ''),
    `baseline: bash -c 'curl -s URL | tee >(sha256sum >/dev/null) | tar xz -C DIR' on the same blob`,
    '',
    formatTable(rows),
    '',
    `runs (s)  herd:     ${times.herd.map((t) => t.toFixed(2)).join('  ')}`,
    `          baseline: ${times.base.map((t) => t.toFixed(2)).join('  ')}`,
    `herd peak RSS per run: ${rss.herd.map((b) => mb(b)).join('  ')}`,
    HAVE_GNU_TIME ? null : 'note: /usr/bin/time is missing, so pull peak RSS was not measured',
    fsInfo.warning ? `note: ${fsInfo.warning}` : null,
    opts.sizeMb < 100 ? 'note: a small bundle, so herd\'s fixed start-up weighs heavily in the time ratio; the goal is set for ~150 MB' : null,
    ways.some((w) => w.executable) ? `note: ${ways.find((w) => w.executable).executable} was dropped from the page cache first, so it runs as from disk on an instance` : `note: ${SEA_SOURCE} is missing (npm run build makes it): only \`node herd.mjs\` was measured`,
    missed.length ? `goals missed: ${missed.join('; ')}` : 'all goals met',
    `total ${secs((performance.now() - benchStarted) / 1000)}`,
  ].filter((l) => l !== null).join('\n'));
}

function tree(settings) {
  const started = performance.now();
  const t = cachedTree(join(ROOT, '.bench'), settings);
  log(`tree ${t.dir}: ${t.files} files, ${mb(t.bytes)}${t.cached ? ' (cached)' : ` (generated in ${secs((performance.now() - started) / 1000)})`}`);
  return t;
}

/** PASS under the goal, BAR over it but under the bar, MISS over the bar; n/a when unmeasured. */
function idleVerdict(rss) {
  if (rss === null) return 'n/a';
  return rss < GOALS.idleRss ? 'PASS' : rss < GOALS.idleRssBar ? 'BAR' : 'MISS';
}

function describe(t, ref) {
  return `${(t.bytes / MB).toFixed(0)} MB / ${t.files} files (blob ${(ref.size / MB).toFixed(0)} MB)`;
}

function maxOrNull(values) {
  return values.some((v) => v === null) ? null : Math.max(...values);
}

async function herd(args) {
  return run(process.execPath, [HERD, ...args], { env });
}

async function publishAndRoll(store, role, dir, release) {
  const started = performance.now();
  const out = JSON.parse(await herd(['publish', ...store, '--role', role, '--code', dir, '--release', release, '--json']));
  await herd(['roll', ...store, '--role', role, '--release', release, '--json']);
  log(`published ${role}/${release}: blob ${mb(out.code.size)} in ${secs((performance.now() - started) / 1000)}`);
  return out.code;
}

try {
  await main();
} catch (err) {
  if (!cleaning) {
    console.error(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    process.exitCode = 1;
  }
} finally {
  await cleanup();
}
