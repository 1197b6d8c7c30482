// A deterministic application tree for the pull benchmark: the same seed and size give
// the same bytes on every machine, so runs compare. The mix is what a front-end release
// looks like: thousands of small source files that compress well, a few hundred medium
// assets (source maps, images that compress a little), a handful of large
// incompressible binaries. Generated trees are cached under .bench/ keyed by
// TREE_VERSION: change the version when the generator changes.
import { createCipheriv } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// The same seeded random source as the fleet simulation (mulberry32), for sizes and words.
import { mulberry32 } from './scale-events.ts';

export const TREE_VERSION = 1;

const WORDS = (
  'const let var function return if else for while of in new this await async import export from default class ' +
  'extends super null undefined true false typeof instanceof try catch finally throw switch case break continue ' +
  'request response handler router render props state value index length items result error options config ' +
  'module exports require promise resolve reject then callback buffer stream string number object array map ' +
  'filter reduce push slice splice join split keys values entries assign freeze create define property prototype ' +
  'component element document window event listener target style className children parent node context store ' +
  'dispatch action payload reducer selector effect memo ref key id name type data user session token cache'
).split(' ');
const PUNCT = ['(', ')', '{', '}', '[', ']', ';', ',', '.', ' = ', ' => ', ' === ', ' + ', ': ', '\n', '\n  ', '\n    ', "'", '"'];

/** A few MB of JS-like text; files are slices of it, so gzip sees source-like redundancy. */
function makeCorpus(rand, bytes) {
  const parts = [];
  let size = 0;
  while (size < bytes) {
    const r = rand();
    const s = r < 0.62 ? WORDS[Math.floor(rand() * WORDS.length)]
      : r < 0.95 ? PUNCT[Math.floor(rand() * PUNCT.length)]
        : String(Math.floor(rand() * 100000));
    parts.push(s, rand() < 0.5 ? ' ' : '');
    size += s.length + 1;
  }
  return Buffer.from(parts.join(''), 'latin1');
}

/** `count` sizes, log-uniform between min and max, scaled so they add up to `total`. */
function sizesFor(rand, count, min, max, total) {
  const raw = Array.from({ length: count }, () => Math.exp(Math.log(min) + rand() * (Math.log(max) - Math.log(min))));
  const sum = raw.reduce((a, b) => a + b, 0);
  return raw.map((r) => Math.max(16, Math.round((r * total) / sum)));
}

/** Image-like bytes: random runs between flat runs, so gzip takes off only part of them. */
function semiCompressible(rand, seed, n) {
  const noise = noiseBytes(seed, n);
  for (let i = 0; i < n;) {
    const run = 16 + Math.floor(rand() * 240);
    if (rand() < 0.5) noise.fill(noise[i], i, Math.min(n, i + run));
    i += run;
  }
  return noise;
}

/**
 * The plan of the tree: every file's path, size and kind, from the seed alone.
 * ~7,000 files per 150 MB; 30% of the bytes in small text, 40% medium, 30% large binary.
 */
export function planTree({ sizeMb, seed = 42 }) {
  const rand = mulberry32(seed);
  const total = sizeMb * 1024 * 1024;
  const files = Math.max(200, Math.round((7000 * sizeMb) / 150));
  const large = Math.max(2, Math.round((6 * sizeMb) / 150));
  const medium = Math.max(10, Math.round(files * 0.06));
  const small = files - large - medium - 1;
  const dirs = [];
  const packages = Math.max(8, Math.round(files / 60));
  for (let p = 0; p < packages; p++) {
    const name = `${WORDS[Math.floor(rand() * WORDS.length)]}-${WORDS[Math.floor(rand() * WORDS.length)]}-${p}`;
    const base = p % 5 === 0 ? `src/${name}` : `node_modules/${name}`;
    dirs.push(base, `${base}/lib`, `${base}/lib/${WORDS[p % WORDS.length]}`, `${base}/dist/esm/internal`);
  }
  const pick = () => dirs[Math.floor(rand() * dirs.length)];
  const plan = [{ path: 'herd.json', kind: 'json', size: 0 }];
  sizesFor(rand, small, 200, 24 * 1024, total * 0.3).forEach((size, i) => {
    plan.push({ path: `${pick()}/f${i}.${rand() < 0.8 ? 'js' : 'd.ts'}`, kind: 'text', size });
  });
  sizesFor(rand, medium, 30 * 1024, 1200 * 1024, total * 0.4).forEach((size, i) => {
    const image = rand() < 0.4;
    plan.push({ path: image ? `public/img/${i % 7}/m${i}.png` : `${pick()}/m${i}.js.map`, kind: image ? 'image' : 'text', size });
  });
  sizesFor(rand, large, 2 * 1024 * 1024, 12 * 1024 * 1024, total * 0.3).forEach((size, i) => {
    plan.push({ path: `bin/native/l${i}.node`, kind: 'binary', size });
  });
  return plan;
}

const RUN_SPEC = { command: ['node', '-e', 'require("http").createServer((q,s)=>s.end("ok")).listen(process.env.PORT)'], port: 8080, health: { path: '/' } };

/** Write the planned tree into `dir` (created; must not exist). Returns file count and bytes. */
export function writeTree(dir, { sizeMb, seed = 42, extraFileMb = 0 }) {
  const plan = planTree({ sizeMb, seed });
  const rand = mulberry32(seed ^ 0x5eed);
  const corpus = makeCorpus(rand, 4 * 1024 * 1024);
  let bytes = 0;
  mkdirSync(dir, { recursive: false });
  const made = new Set();
  const write = (path, data) => {
    const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
    if (parent && !made.has(parent)) {
      mkdirSync(join(dir, parent), { recursive: true });
      made.add(parent);
    }
    writeFileSync(join(dir, path), data);
    bytes += data.length;
  };
  plan.forEach((f, i) => {
    if (f.kind === 'json') return write(f.path, `${JSON.stringify(RUN_SPEC, null, 2)}\n`);
    if (f.kind === 'binary') return write(f.path, noiseBytes(seed * 1000 + i, f.size));
    if (f.kind === 'image') return write(f.path, semiCompressible(rand, seed * 1000 + i, f.size));
    const start = Math.floor(rand() * Math.max(0, corpus.length - f.size - 1));
    const header = Buffer.from(`// ${f.path} (${i})\n`, 'latin1');
    write(f.path, Buffer.concat([header, corpus.subarray(start, start + Math.max(0, f.size - header.length))]));
  });
  if (extraFileMb > 0) {
    // One file bigger than the whole default bundle, written in slices: a streaming
    // extractor's memory must not notice it.
    const file = join(dir, 'bin/native/huge.bin');
    mkdirSync(join(dir, 'bin/native'), { recursive: true });
    for (let mb = 0; mb < extraFileMb; mb += 16) {
      const slice = noiseBytes(seed * 7919 + mb, Math.min(16, extraFileMb - mb) * 1024 * 1024);
      writeFileSync(file, slice, { flag: mb === 0 ? 'w' : 'a' });
      bytes += slice.length;
    }
  }
  return { files: plan.length + (extraFileMb > 0 ? 1 : 0), bytes };
}

/**
 * The tree for these settings under `cacheRoot`, generated once: a `.done` marker beside
 * it (never inside: it would land in the bundle) says it is complete.
 */
export function cachedTree(cacheRoot, settings) {
  const name = `tree-v${TREE_VERSION}-s${settings.sizeMb}${settings.extraFileMb ? `-x${settings.extraFileMb}` : ''}`;
  const dir = join(cacheRoot, name);
  const marker = `${dir}.done`;
  if (existsSync(marker)) return { dir, cached: true, ...JSON.parse(readFileSync(marker, 'utf8')) };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(cacheRoot, { recursive: true });
  const info = writeTree(dir, settings);
  writeFileSync(marker, JSON.stringify(info));
  return { dir, cached: false, ...info };
}

