// Bundles the product into one file, dist/herd.mjs (the CLI and agent that ship onto
// instances), and the local demo into dist/demo.mjs (what `npm run demo` runs; it starts
// agents from dist/herd.mjs). s3rver (used only by the demo) stays external in the demo's
// bundle and is loaded from node_modules when the demo runs; the product never imports it.
import { build } from 'esbuild';
import { readFile, chmod } from 'node:fs/promises';

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
  legalComments: 'none',
  // V8 keeps the bundle's source for the process's lifetime; one non-ASCII character would
  // make it store all of it two bytes per character.
  charset: 'ascii',
  define: { HERD_VERSION: JSON.stringify(pkg.version), HERD_IMAGE_FILES: JSON.stringify(imageFiles) },
  metafile: true,
  logLevel: 'warning',
};

/** Builds `entry` into `outfile` and prints its size and build time. */
async function bundle(entry, outfile, options) {
  const started = performance.now();
  const result = await build({ ...common, entryPoints: [entry], outfile, ...options });
  await chmod(outfile, 0o755);
  const bytes = result.metafile.outputs[outfile].bytes;
  console.log(`${outfile} ${(bytes / 1024 / 1024).toFixed(1)} MiB in ${Math.round(performance.now() - started)} ms`);
}

await bundle('agent/cli.ts', 'dist/herd.mjs', {
  // Run directly (`./herd.mjs`, a `herd` on PATH) it gets the small young generation the
  // systemd unit also gives it: see packaging/herd-agent.service.
  banner: { js: `#!/usr/bin/env -S node --max-semi-space-size=1\n${requireShim}` },
});
await bundle('demo/main.ts', 'dist/demo.mjs', {
  external: ['s3rver'],
  banner: { js: `#!/usr/bin/env node\n${requireShim}` },
});
