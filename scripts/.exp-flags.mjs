import { readFileSync, writeFileSync } from 'node:fs';
const src = readFileSync(process.argv[4] ?? 'dist/herd.mjs', 'utf8');
const lines = src.split('\n');
const flags = process.argv[2];
lines.splice(1, 0, `process.getBuiltinModule('node:v8').setFlagsFromString(${JSON.stringify(flags)});`);
writeFileSync(process.argv[3], lines.join('\n'));
