// One row of memory-by-module.mjs, in a process of its own: imports a bundle, calls what it
// exports as default (if anything), keeps the process alive while it settles, and writes where
// the memory is, settled and after two full GCs, as JSON. Kept small: it is part of every row.
//   node --expose-gc memory-child.mjs BUNDLE SETTLE_MS RESULT_FILE
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { memorySnapshot } from './memory-probe.mjs';

const [bundle, settleMs, resultFile] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const timer = setInterval(() => {}, 1 << 30);
if (bundle !== '-') {
  const loaded = await import(pathToFileURL(bundle).href);
  if (typeof loaded.default === 'function') await loaded.default();
}
await sleep(Number(settleMs));
const settled = memorySnapshot();
globalThis.gc?.();
globalThis.gc?.();
await sleep(1_000);
writeFileSync(resultFile, JSON.stringify({ settled, collected: memorySnapshot() }));
clearInterval(timer);
process.exit(0);
