// Where the agent's memory goes. Each heavy module the agent could carry is bundled the way
// dist/herd.mjs is (esbuild, same options), loaded alone in a fresh node on this node binary
// (scripts/bench/memory-child.mjs) and used once the way herd uses it; then all of them in one
// process, then the whole bundle; each is measured after it settles, next to a bare node and
// an empty bundle. Then real idle agents (a small release running, from a local S3 server;
// static identity with keys in the environment, and IMDS identity with instance-profile
// credentials from a fake metadata service), `node herd.mjs` and the single executable:
// V8's heap spaces, bytecode and script source from the inside (scripts/bench/memory-probe.mjs,
// when the process takes --import), the kernel's view from /proc. A measurement, not a test.
//
//   node scripts/bench/memory-by-module.mjs [--settle-s N] [--idle-s N] [--herd FILE] [--sea FILE] [--node-options S]
//                                           [--only NAME] [--no-modules] [--leave-one-out] [--no-agent] [--json]
//   node scripts/bench/memory-by-module.mjs --print RESULT.json   (a --json result, as a table)
// --herd: the bundle (default dist/herd.mjs); --sea: the single executable (default: herd beside it)
//
// Run it with Node 24 (npm puts it first on PATH in npm scripts; else PATH=node_modules/.bin:$PATH).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { kernelView } from './memory-probe.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const PROBE = join(import.meta.dirname, 'memory-probe.mjs');
const CHILD = join(import.meta.dirname, 'memory-child.mjs');
const MB = 1024 * 1024;
const mb = (b) => (b === undefined || b === null || Number.isNaN(b) ? 'n/a' : (b / MB).toFixed(1));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const EMPTY = 'an empty bundle (what every row below pays to load a bundle)';

/**
 * The SHA-256 class @smithy/signature-v4 takes, over node:crypto (hashes, and HMACs given a
 * secret). Self-contained: its source is copied into each row's bundle with the loaders.
 */
async function nodeSha256() {
  const { createHash, createHmac } = await import('node:crypto');
  return class Sha256 {
    constructor(secret) { this.h = secret ? createHmac('sha256', secret) : createHash('sha256'); }
    update(d) { this.h.update(d); }
    async digest() { return new Uint8Array(this.h.digest()); }
  };
}

/**
 * What the child does for each row: import, then use it the way herd does (a client built, a
 * request signed, a logger created), so lazily loaded parts count too. `env.STORE` is a local
 * HTTP server answering 304 to any GET, `env.IMDS` a metadata service handing out credentials.
 */
const LOADERS = {
  'bare node': async () => {},
  [EMPTY]: async () => {},
  'node:http + node:https (a keep-alive agent each)': async () => {
    const http = await import('node:http');
    const https = await import('node:https');
    keep(new http.Agent({ keepAlive: true }), new https.Agent({ keepAlive: true }));
  },
  '@aws-sdk/client-s3 (a client)': async () => {
    const { S3Client } = await import('@aws-sdk/client-s3');
    keep(new S3Client({ region: 'us-east-1' }));
  },
  '@aws-sdk/client-s3 (a client, one GET with If-None-Match: 304)': async () => {
    const { S3Client, GetObjectCommand } = await import('@aws-sdk/client-s3');
    const client = new S3Client({ region: 'us-east-1', endpoint: process.env.STORE, forcePathStyle: true, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    await client.send(new GetObjectCommand({ Bucket: 'b', Key: 'herd/roles/r/channel.json', IfNoneMatch: '"x"' })).catch((err) => {
      if (err.$metadata?.httpStatusCode !== 304) throw err;
    });
    keep(client);
  },
  '@aws-sdk/credential-provider-node (the default chain: env)': async () => {
    const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
    keep(await defaultProvider()());
  },
  '@aws-sdk/credential-provider-node (the default chain: to the instance profile)': async () => {
    const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
    keep(await defaultProvider()());
  },
  '@smithy/signature-v4 (one request signed)': async () => {
    const { SignatureV4 } = await import('@smithy/signature-v4');
    const Sha256 = await nodeSha256();
    const signer = new SignatureV4({ service: 's3', region: 'us-east-1', sha256: Sha256, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, uriEscapePath: false, applyChecksum: true });
    keep(signer, await signer.sign({ method: 'GET', protocol: 'http:', hostname: 'localhost', path: '/b/k', headers: { host: 'localhost' }, query: {} }));
  },
  '@aws-sdk/credential-provider-node (env) + @smithy/signature-v4 (one request signed)': async () => {
    const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
    const { SignatureV4 } = await import('@smithy/signature-v4');
    const Sha256 = await nodeSha256();
    const signer = new SignatureV4({ service: 's3', region: 'us-east-1', sha256: Sha256, credentials: defaultProvider(), uriEscapePath: false, applyChecksum: true });
    keep(signer, await signer.sign({ method: 'GET', protocol: 'http:', hostname: 'localhost', path: '/b/k', headers: { host: 'localhost' }, query: {} }));
  },
  '@aws-sdk/credential-provider-node (env) + node:crypto (one request signed by hand)': async () => {
    const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
    const { createHash, createHmac } = await import('node:crypto');
    const creds = await defaultProvider()();
    const k = createHmac('sha256', `AWS4${creds.secretAccessKey}`).update('20260101').digest();
    keep(creds, createHmac('sha256', k).update(createHash('sha256').update('GET\n/b/k').digest('hex')).digest('hex'));
  },
  'zod (a schema parsed)': async () => {
    const { z } = await import('zod');
    const s = z.strictObject({ a: z.string().regex(/^x/), b: z.number().int().min(1), c: z.iso.datetime() });
    keep(s, s.parse({ a: 'x1', b: 2, c: new Date().toISOString() }));
  },
  'zod/mini as herd takes it (agent/zod.ts: by name; the same schema)': async () => {
    const z = await import('__HERD_ROOT__/agent/zod.ts');
    const s = z.strictObject({ a: z.string().check(z.regex(/^x/)), b: z.int().check(z.minimum(1)), c: z.iso.datetime() });
    keep(s, s.parse({ a: 'x1', b: 2, c: new Date().toISOString() }));
  },
  'pino (a logger, one line to /dev/null)': async () => {
    const { pino } = await import('pino');
    const log = pino({ redact: { paths: ['token', '*.token'], censor: '[redacted]' } }, pino.destination({ dest: '/dev/null', sync: true }));
    log.child({ module: 'x' }).info({ a: 1 }, 'hello');
    keep(log);
  },
  'prom-client (a registry, collectDefaultMetrics, rendered once)': async () => {
    const { Registry, collectDefaultMetrics, Gauge } = await import('prom-client');
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 });
    keep(registry, new Gauge({ name: 'g', help: 'g', registers: [registry] }), await registry.metrics());
  },
  'node:fs watchFile (polling one file, as agent/config-watch.ts)': async () => {
    const { watchFile } = await import('node:fs');
    watchFile(PROBE, { interval: 1000, persistent: false }, () => {});
  },
  'node:child_process (one run of `true`)': async () => {
    const { execFile } = await import('node:child_process');
    await new Promise((resolve, reject) => execFile('true', (err) => (err ? reject(err) : resolve())));
  },
  'tar (a Parser)': async () => {
    const { Parser } = await import('tar');
    keep(new Parser());
  },
  'commander (a Command)': async () => {
    const { Command } = await import('commander');
    keep(new Command('x').option('--y <z>'));
  },
};
/** The rows that make up the agent's steady path: --leave-one-out measures each one's share in their company. */
const AGENT_PARTS = [
  'node:http + node:https (a keep-alive agent each)',
  '@aws-sdk/credential-provider-node (env) + node:crypto (one request signed by hand)',
  'zod/mini as herd takes it (agent/zod.ts: by name; the same schema)',
  'pino (a logger, one line to /dev/null)',
  'prom-client (a registry, collectDefaultMetrics, rendered once)',
  'node:fs watchFile (polling one file, as agent/config-watch.ts)',
  'node:child_process (one run of `true`)',
  'tar (a Parser)',
  'commander (a Command)',
];
const PARTS = "the agent's parts together";
const without = (name) => `  without ${name.replace(/ \(.*$/, '')}`;

/** Rows that need the fake metadata service (and no keys in the environment). */
const NEEDS_IMDS = new Set(['@aws-sdk/credential-provider-node (the default chain: to the instance profile)']);
const ALL = 'all of the above, in one process';
const BUNDLE = 'the bundle, loaded (`herd --version`, kept alive)';

// ---- each row: a bundle built like dist/herd.mjs, loaded by memory-child.mjs --------------

/** esbuild options of scripts/build.mjs that change what a bundle costs in memory. */
const BUNDLE_OPTIONS = {
  bundle: true, platform: 'node', target: 'node24', format: 'esm', minifySyntax: true, minifyWhitespace: true, legalComments: 'none', charset: 'ascii', logLevel: 'error', conditions: [],
  banner: { js: "import { createRequire as __herdRequire } from 'node:module';\nconst require = __herdRequire(import.meta.url);" },
};

/** Writes the bundle a row loads and returns its path ('-' for bare node). */
async function rowBundle(name, { work, herd }) {
  if (name === 'bare node') return '-';
  const file = join(work, `row-${Object.keys(LOADERS).indexOf(name)}-${name.length}.mjs`);
  if (name === BUNDLE) {
    // cli.ts exits when its command is done: keep the process, and what it loaded, alive.
    await writeFile(file, `process.exit = () => {};\nprocess.argv = [process.execPath, ${JSON.stringify(herd)}, '--version'];\nawait import(${JSON.stringify(pathToFileURL(herd).href)});\n`);
    return file;
  }
  const parts = (skip) => AGENT_PARTS.filter((n) => n !== skip).map((n) => LOADERS[n]);
  const loaders = name === ALL ? Object.entries(LOADERS).filter(([n]) => n !== 'bare node' && !NEEDS_IMDS.has(n)).map(([, f]) => f)
    : name === PARTS ? parts(null)
      : name.startsWith('  without ') ? parts(AGENT_PARTS.find((n) => without(n) === name))
        : [LOADERS[name]];
  const entry = join(work, `entry-${Math.random().toString(36).slice(2)}.mjs`);
  await writeFile(entry, [
    'const kept = [];', 'const keep = (...things) => kept.push(...things);', `const PROBE = ${JSON.stringify(PROBE)};`,
    // Loaders are copied into the row's bundle as source text, so what they share goes too.
    nodeSha256.toString(),
    `const loaders = [${loaders.map((f) => f.toString().replaceAll('__HERD_ROOT__', ROOT)).join(',\n')}];`,
    'export default async function load() { for (const l of loaders) await l(); }',
  ].join('\n'));
  const { build } = await import('esbuild');
  await build({ ...BUNDLE_OPTIONS, entryPoints: [entry], outfile: file, nodePaths: [join(ROOT, 'node_modules')] });
  return file;
}

function runChild(name, opts) {
  const resultFile = join(opts.work, `row-${Math.random().toString(36).slice(2)}.json`);
  const env = { ...opts.env, ...(NEEDS_IMDS.has(name) ? opts.imdsEnv : opts.keyEnv) };
  return new Promise(async (resolveRun, reject) => {
    let bundle;
    try {
      bundle = await rowBundle(name, opts);
    } catch (err) {
      // A package herd no longer depends on may be gone from node_modules: say so, measure the rest.
      resolveRun({ skipped: String(err.message ?? err).split('\n')[0] });
      return;
    }
    const c = spawn(process.execPath, ['--expose-gc', CHILD, bundle, String(opts.settleS * 1000), resultFile], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d) => { stderr += d; });
    c.once('error', reject);
    c.once('close', async (code) => {
      if (code !== 0) return reject(new Error(`${name}: exit ${code}\n${stderr.slice(-2000)}`));
      resolveRun({ bytes: bundle === '-' ? 0 : (await stat(name === BUNDLE ? opts.herd : bundle)).size, ...JSON.parse(await readFile(resultFile, 'utf8')) });
    });
  });
}

/** A server that answers 304 to every request: an unchanged channel, as cheaply as S3 does. */
async function notModifiedServer() {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(304, { etag: '"x"' });
    res.end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  const line = (r) => r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  ').trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

const HEADER = ['what', 'bundle', 'RSS', '+base', 'RSS after gc', '+base', 'heap used', 'old', 'code', 'bytecode', 'scripts', 'external', 'anon', 'file'];
function row(label, m, bare) {
  const s = m.settled;
  const c = m.collected ?? m.settled;
  return [
    label, m.bytes ? mb(m.bytes) : '', mb(s.rss), bare ? mb(s.rss - bare.settled.rss) : '', mb(c.rss), bare ? mb(c.rss - (bare.collected ?? bare.settled).rss) : '',
    mb(c.heapUsed), mb(c.spaces.old_space?.used), mb((c.spaces.code_space?.used ?? 0) + (c.spaces.code_large_object_space?.used ?? 0)),
    mb(c.code.bytecodeAndMetadata), mb(c.code.externalScriptSource), mb(c.external), mb(c.kernel.RssAnon), mb(c.kernel.RssFile),
  ];
}

async function parent(flags) {
  const { startLocalS3, LOCAL_S3_CREDENTIALS } = await import('../../support/local-s3.ts');
  const { startImdsServer } = await import('../../test/fixtures/imds-server.ts');
  const herd = resolve(flags.herd ?? join(ROOT, 'dist/herd.mjs'));
  if (!existsSync(herd)) throw new Error(`${herd} is missing: npm run build`);
  const work = await mkdtemp(join(tmpdir(), 'herd-memory-'));
  const store = await notModifiedServer();
  const credentials = { ...LOCAL_S3_CREDENTIALS };
  const imds = await startImdsServer({ instanceId: 'i-0memory', region: 'us-east-1', az: 'us-east-1a', tags: { 'herd:role': 'idle' }, credentials });
  const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, STORE: store.url, ...(flags['node-options'] ? { NODE_OPTIONS: flags['node-options'] } : {}) };
  const opts = {
    work, herd, settleS: Number(flags['settle-s'] ?? 5), env: base,
    keyEnv: { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_REGION: 'us-east-1' },
    imdsEnv: { AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url, AWS_REGION: 'us-east-1' },
  };
  const log = (line) => process.stderr.write(`memory: ${line}\n`);
  const results = { node: process.version, settleS: opts.settleS, idleS: Number(flags['idle-s'] ?? 15), nodeOptions: flags['node-options'] ?? null, modules: [], agents: [] };
  try {
    const names = ['bare node', ...Object.keys(LOADERS).filter((n) => n !== 'bare node'), ALL, BUNDLE].filter((n) => n === 'bare node' || n === EMPTY || (!flags['no-modules'] && (!flags.only || n.includes(flags.only))));
    if (flags['leave-one-out']) names.push(PARTS, ...AGENT_PARTS.map(without));
    for (const name of names) {
      log(name);
      results.modules.push({ name, ...(await runChild(name, opts)) });
    }
    if (!flags['no-agent']) {
      const s3 = await startLocalS3({ directory: join(work, 's3'), buckets: ['herd-memory'] });
      try {
        const { waysToRun } = await import('./agent-idle.mjs');
        for (const way of waysToRun(herd, flags.sea)) {
          for (const kind of ['static', 'imds']) {
            results.agents.push({ way: way.label, kind, ...(await idleAgent({ ...opts, s3, imds, kind, way, idleS: results.idleS, log })) });
          }
        }
      } finally {
        await s3.close();
      }
    }
  } finally {
    await store.close();
    await imds.close();
    await rm(work, { recursive: true, force: true });
  }
  if (flags.json) console.log(JSON.stringify(results, null, 2));
  else console.log(report(results));
}

function report(results) {
  const bare = results.modules[0];
  const lines = [
    '',
    `memory by module: node ${results.node}${results.nodeOptions ? `, NODE_OPTIONS=${results.nodeOptions}` : ''}, settled ${results.settleS} s; MB (MiB)`,
    '  RSS: after settling; +base: over the empty bundle\'s (its own over bare node\'s); RSS after gc: after two full GCs;',
    '  heap used, old space, code space, bytecode, script sources, external: V8 after gc; anon/file: RssAnon/RssFile',
    '',
    table([HEADER, ...results.modules.filter((m) => !m.skipped).map((m, i) => row(m.name, m, i === 0 ? null : i === 1 ? bare
      : m.name.startsWith('  without ') ? results.modules.find((r) => r.name === PARTS) : results.modules[1]))]),
    results.modules.some((m) => m.name === PARTS) ? "  (the 'without' rows' +base is against the parts together: minus what leaving that one out saves)" : null,
    ...results.modules.filter((m) => m.skipped).map((m) => `  not measured: ${m.name}: ${m.skipped}`),
  ];
  if (results.agents.length) {
    lines.push('', `idle agents: a small release running, ${results.idleS} s after turning healthy, from a local S3 server; a bare node on the same node binary beside each`, '',
      table([HEADER, ...results.agents.flatMap((a) => [
        row(`agent (${a.way}), ${a.kind} identity`, { settled: a.agent }, { settled: a.bare }),
        row('  bare node beside it', { settled: a.bare }, null),
      ])]));
  }
  return lines.filter((l) => l !== null).join('\n');
}

/** A real agent with a small release, probed from the inside once it has idled. */
async function idleAgent({ work, herd, env, keyEnv, imdsEnv, s3, imds, kind, way, idleS, log }) {
  const { measureAgentIdle, dropPageCache } = await import('./agent-idle.mjs');
  if (way.executable) dropPageCache(way.executable);
  const probeBase = join(work, `probe-${kind}-${Math.random().toString(36).slice(2)}`);
  const probeEnv = { ...env, NODE_OPTIONS: `${env.NODE_OPTIONS ?? ''} --import=${pathToFileURL(PROBE).href}`.trim(), HERD_MEMORY_PROBE: probeBase };
  const snapshots = {};
  const inspect = async (pids) => {
    for (const [who, pid] of Object.entries(pids)) {
      if (!existsSync(`${probeBase}.${pid}.ready`)) {
        const kernel = kernelView(pid);
        snapshots[who] = { rss: kernel.VmRSS, kernel, spaces: {}, code: {} };
        continue;
      }
      process.kill(pid, 'SIGUSR2');
      const file = `${probeBase}.${pid}.json`;
      for (let i = 0; i < 50 && !existsSync(file); i++) await sleep(100);
      snapshots[who] = JSON.parse(await readFile(file, 'utf8'));
    }
  };
  log(`idle agent (${way.label}), ${kind} identity`);
  await measureAgentIdle({
    herdFile: herd, herdCommand: way.command, env: { ...probeEnv, ...keyEnv }, agentEnv: kind === 'imds' ? { ...probeEnv, ...imdsEnv } : undefined,
    identity: kind === 'imds' ? { provider: 'imds', endpoint: imds.url } : undefined,
    endpoint: s3.endpoint, bucket: 'herd-memory', work: join(work, `${kind}-${Math.random().toString(36).slice(2)}`), idleS, log, inspect,
    appDir: join(ROOT, 'examples/hello-app'), configDir: join(ROOT, 'examples/hello-config'),
  });
  return snapshots;
}

const { values: flags } = parseArgs({
  options: {
    herd: { type: 'string' },
    'settle-s': { type: 'string' },
    'idle-s': { type: 'string' },
    'node-options': { type: 'string' },
    sea: { type: 'string' },
    only: { type: 'string' },
    'no-agent': { type: 'boolean', default: false },
    'no-modules': { type: 'boolean', default: false },
    'leave-one-out': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    print: { type: 'string' },
  },
});
if (flags.print) console.log(report(JSON.parse(readFileSync(flags.print, 'utf8'))));
else await parent(flags);
