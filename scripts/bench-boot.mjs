// npm run bench:boot: cold start to healthy, as a fresh instance boots. `herd agent` is
// started with an empty data directory and its release waiting in a local S3 store (s3rver);
// the time is from spawning the agent to the first 200 from its /healthz (identity, channel,
// fetch, verify, extract, app start, health gate). The single executable `dist/herd` against
// `node dist/herd.mjs` on the same Node binary, alternating, median of N runs, for two tiny
// apps: examples/static-site (python3 -m http.server: herd is not tied to the app's runtime)
// and examples/hello-app (node). A measurement, not a test: it exits 0 whatever it measures.
//
//   node scripts/bench-boot.mjs [--runs N]
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, run, start, stopAll, stopChild } from './bench/procs.mjs';
import { formatTable, median, ratio, secs } from './bench/report.mjs';

if (Number(process.versions.node.split('.')[0]) < 24) {
  console.error(`bench: needs Node 24 (this is ${process.version}): npm run bench:boot, or PATH=node_modules/.bin:$PATH`);
  process.exit(2);
}
const { startLocalS3, LOCAL_S3_CREDENTIALS } = await import('../support/local-s3.ts');

const ROOT = resolve(import.meta.dirname, '..');
const MJS = join(ROOT, 'dist/herd.mjs');
const EXE = join(ROOT, 'dist/herd');
const BUCKET = 'herd-boot';
const { values: flags } = parseArgs({ options: { runs: { type: 'string', default: '5' }, help: { type: 'boolean', short: 'h' } } });
if (flags.help) {
  console.log('usage: node scripts/bench-boot.mjs [--runs N]   (npm run bench:boot builds first)');
  process.exit(0);
}
const runs = Math.max(1, Number(flags.runs) || 5);
for (const file of [MJS, EXE]) {
  if (!existsSync(file)) {
    console.error(`bench: ${file} is missing: npm run build first`);
    process.exit(1);
  }
}

const work = await mkdtemp(join(tmpdir(), 'herd-boot-'));
const s3 = await startLocalS3({ directory: join(work, 's3'), buckets: [BUCKET] });
const env = { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' };
const store = ['--bucket', BUCKET, '--endpoint', s3.endpoint];
const ways = {
  'dist/herd': (args) => [EXE, args],
  'node dist/herd.mjs': (args) => [process.execPath, ['--max-semi-space-size=1', MJS, ...args]],
};
const apps = { 'static-site (python)': join(ROOT, 'examples/static-site'), 'hello-app (node)': join(ROOT, 'examples/hello-app') };

/** Spawn to first /healthz 200, in seconds. */
async function bootOnce(way, role, n) {
  const [healthPort, appPort] = [await freePort(), await freePort()];
  const dir = join(work, `${role}-${n}-${way.replace(/\W+/g, '-')}`);
  const configFile = `${dir}.json`;
  await writeFile(configFile, JSON.stringify({
    sources: [{ bucket: BUCKET, endpoint: s3.endpoint, forcePathStyle: true }], dataDir: dir, healthPort, healthHost: '127.0.0.1',
    appPort, appUser: null, identity: { provider: 'static', instanceId: `i-boot-${n}`, role, az: 'local-1a', region: 'local' },
  }));
  const [cmd, args] = ways[way](['agent', '--config', configFile]);
  const t0 = performance.now();
  const agent = start(cmd, args, { env });
  try {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${healthPort}/healthz`).then((r) => r.status === 200, () => false);
      if (ok) return (performance.now() - t0) / 1000;
      if (performance.now() - t0 > 60_000) throw new Error(`${way} ${role}: not healthy within 60 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    await stopChild(agent.child, 20_000, { group: false });
    await rm(dir, { recursive: true, force: true });
  }
}

try {
  const rows = [['app', 'dist/herd (median)', 'node dist/herd.mjs (median)', 'ratio']];
  for (const [name, dir] of Object.entries(apps)) {
    const role = name.split(' ')[0];
    await run(process.execPath, [MJS, 'publish', ...store, '--role', role, '--code', dir, '--release', `${role}-1`], { env });
    await run(process.execPath, [MJS, 'roll', ...store, '--role', role, '--release', `${role}-1`], { env });
    const times = { 'dist/herd': [], 'node dist/herd.mjs': [] };
    for (let i = 0; i < runs; i++) {
      for (const way of i % 2 ? ['node dist/herd.mjs', 'dist/herd'] : ['dist/herd', 'node dist/herd.mjs']) times[way].push(await bootOnce(way, role, i));
    }
    const exe = median(times['dist/herd']);
    const mjs = median(times['node dist/herd.mjs']);
    rows.push([name, secs(exe), secs(mjs), ratio(exe, mjs)]);
    console.error(`bench: ${name}: dist/herd ${times['dist/herd'].map(secs).join(' ')}; node dist/herd.mjs ${times['node dist/herd.mjs'].map(secs).join(' ')}`);
  }
  console.log(`\ncold start to healthy (spawn -> first /healthz 200, empty data dir, release in a local S3), median of ${runs}\n`);
  console.log(formatTable(rows));
} finally {
  await stopAll();
  await s3.close();
  await rm(work, { recursive: true, force: true });
}
