// Bundles the CLI into one file, dist/herd.mjs. s3rver (used only by `herd demo`) stays
// external and is loaded from node_modules when the demo runs.
import { build } from 'esbuild';
import { readFile, chmod } from 'node:fs/promises';

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
const started = performance.now();
const result = await build({
  entryPoints: ['agent/cli.ts'],
  outfile: 'dist/herd.mjs',
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  sourcemap: 'linked',
  minifySyntax: true,
  legalComments: 'none',
  // V8 keeps the bundle's source for the agent's lifetime; one non-ASCII character would
  // make it store all of it two bytes per character.
  charset: 'ascii',
  external: ['s3rver'],
  define: { HERD_VERSION: JSON.stringify(pkg.version) },
  // Some bundled CommonJS dependencies call require(); give the ESM bundle one.
  // Run directly (`./herd.mjs`, a `herd` on PATH) it gets the small young generation the
  // systemd unit also gives it: see packaging/herd-agent.service.
  banner: { js: "#!/usr/bin/env -S node --max-semi-space-size=1\nimport { createRequire as __herdRequire } from 'node:module';\nconst require = __herdRequire(import.meta.url);" },
  metafile: true,
  logLevel: 'warning',
});
await chmod('dist/herd.mjs', 0o755);
const bytes = result.metafile.outputs['dist/herd.mjs'].bytes;
console.log(`dist/herd.mjs ${(bytes / 1024 / 1024).toFixed(1)} MiB in ${Math.round(performance.now() - started)} ms`);
