// Bundles the product into one file, dist/herd.mjs (the CLI and agent, for a machine with
// Node 24), makes the same program into dist/herd, one executable that ships onto instances
// with no Node at all (scripts/sea.mjs), and bundles the local demo into dist/demo.mjs (what
// `npm run demo` runs; it starts agents from dist/herd.mjs). s3rver (used only by the demo)
// stays external in the demo's bundle and is loaded from node_modules when the demo runs;
// the product never imports it.
import { build } from 'esbuild';
import { readFile, chmod, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { builtinsByRequire } from './builtins-by-require.mjs';
import { pinoWithoutWorkers } from './pino-without-workers.mjs';
import { buildExecutable } from './sea.mjs';
import { AGENT_FLAGS } from '../agent/agent-v8.ts';

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
// What `herd user-data` writes onto an instance, inlined as the repository has it
// (agent/commands/image-files.ts names the same three files).
const text = (path) => readFile(new URL(`../${path}`, import.meta.url), 'utf8');
const imageFiles = {
  userData: await text('ami/user-data.yaml'),
  unit: await text('packaging/herd-agent.service'),
  installScript: await text('ami/install-agent.py'),
};
// Some bundled CommonJS dependencies call require(); give each ESM bundle one.
const requireShim = "import { createRequire as __herdRequire } from 'node:module';\nconst require = __herdRequire(import.meta.url);";
const common = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  sourcemap: 'linked',
  minifySyntax: true,
  // V8 keeps the bundle's source for the process's lifetime: without whitespace and comments
  // it is a quarter smaller (5.1 -> 3.8 MiB), and comments are where non-ASCII characters
  // hide (charset does not escape them). Stack positions map back through the .map file
  // (node --enable-source-maps, or any source-map tool); names are kept.
  minifyWhitespace: true,
  legalComments: 'none',
  // One non-ASCII character would make V8 store all of the source two bytes per character
  // (it did: 10.2 MB instead of 5.1); bundle() refuses an output that has one.
  charset: 'ascii',
  // Resolve packages as Node does ("node", "import"/"require"), not through the bundlers'
  // "module" condition: the AWS SDK then comes from its CommonJS builds, one file per
  // submodule instead of one lazily initialised ES module per source file (the credential
  // chain alone: 503 -> 38 inputs, 3 MiB less resident once loaded).
  conditions: [],
  // Only a caller that passes its own EC2Client (tests) reaches the SDK's EC2 client; the agent
  // sends DescribeTags itself (agent/identity/describe-tags.ts). Left out, it is 1.6 MiB less
  // source held in memory for the life of every agent.
  external: ['@aws-sdk/client-ec2'],
  define: { HERD_VERSION: JSON.stringify(pkg.version), HERD_IMAGE_FILES: JSON.stringify(imageFiles) },
  plugins: [pinoWithoutWorkers, builtinsByRequire],
  metafile: true,
  logLevel: 'warning',
};

/**
 * Builds `entry` into `outfile` (and, with splitting, its chunks beside it) and prints the
 * size and build time. Refuses any output with a non-ASCII character.
 */
async function bundle(entry, outfile, options) {
  const started = performance.now();
  const where = options.splitting
    ? { outdir: dirname(outfile), entryNames: basename(outfile, '.mjs'), chunkNames: 'herd-chunks/[name]-[hash]', outExtension: { '.js': '.mjs' } }
    : { outfile };
  if (options.splitting) await rm(join(dirname(outfile), 'herd-chunks'), { recursive: true, force: true });
  const result = await build({ ...common, entryPoints: [entry], ...where, ...options });
  const outputs = Object.keys(result.metafile.outputs).filter((file) => file.endsWith('.mjs'));
  for (const file of outputs) {
    const at = (await readFile(file, 'latin1')).search(/[^\x00-\x7f]/);
    if (at >= 0) throw new Error(`${file}: a non-ASCII character at offset ${at} would double the memory its source takes; escape it`);
  }
  await chmod(outfile, 0o755);
  const bytes = outputs.reduce((sum, file) => sum + result.metafile.outputs[file].bytes, 0);
  const chunks = outputs.length > 1 ? ` with its ${outputs.length - 1} chunks in ${join(dirname(outfile), 'herd-chunks')}` : '';
  console.log(`${outfile}${chunks} ${(bytes / 1024 / 1024).toFixed(1)} MiB in ${Math.round(performance.now() - started)} ms`);
}

// A 1 MB young generation, in both forms: stream buffers die young, so a small one keeps the
// agent's peak and idle memory down at no measurable cost in time.
const v8Flags = ['--max-semi-space-size=1'];
// Split: `herd agent` loads its own chunks, never the operator commands' or the AWS SDK's.
await bundle('agent/cli.ts', 'dist/herd.mjs', {
  splitting: true,
  banner: { js: `#!/usr/bin/env -S node ${v8Flags.join(' ')}\n${requireShim}` },
});
const started = performance.now();
const bytes = await buildExecutable({ entry: 'agent/cli.ts', outfile: 'dist/herd', esbuildOptions: common, execArgv: v8Flags, agentExecArgv: AGENT_FLAGS });
console.log(`dist/herd ${(bytes / 1024 / 1024).toFixed(1)} MiB in ${Math.round(performance.now() - started)} ms (single executable, no Node needed)`);
await bundle('demo/main.ts', 'dist/demo.mjs', {
  external: [...common.external, 's3rver'],
  banner: { js: `#!/usr/bin/env node\n${requireShim}` },
});
