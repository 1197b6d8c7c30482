import { build } from 'esbuild';
const requireShim = "import { createRequire as __herdRequire } from 'node:module';\nconst require = __herdRequire(import.meta.url);";
const ext = (process.env.EXT ?? '').split(',').filter(Boolean);
const alias = process.env.ALIAS ? JSON.parse(process.env.ALIAS) : {};
const r = await build({ entryPoints: ['agent/cli.ts'], bundle: true, platform: 'node', target: 'node24', format: 'esm', minifySyntax: true, minifyWhitespace: true, legalComments: 'none', charset: 'ascii', conditions: [], external: ['@aws-sdk/client-ec2', ...ext], alias, define: { HERD_VERSION: '"x"', HERD_IMAGE_FILES: '{}' }, metafile: true, outfile: process.env.OUT ?? '.exp/herd.mjs', banner: { js: `#!/usr/bin/env -S node --max-semi-space-size=1\n${requireShim}` } });
console.log(Object.values(r.metafile.outputs)[0].bytes);
