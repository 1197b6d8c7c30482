// Loaded into a process with `node --import <this file>` (NODE_OPTIONS): on SIGUSR2 it writes
// where that process's memory is, as JSON, to `$HERD_MEMORY_PROBE.<pid>.json`, so a benchmark
// can look inside a running agent without changing it; `$HERD_MEMORY_PROBE.<pid>.ready` says it
// is loaded (a single executable ignores --import). Does nothing when the variable is unset.
import { readFileSync, writeFileSync } from 'node:fs';
import v8 from 'node:v8';

/** The process's memory as Node, V8 and the kernel see it; every figure in bytes. */
export function memorySnapshot() {
  const usage = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { used: s.space_used_size, size: s.space_size, committed: s.physical_space_size }]));
  const code = v8.getHeapCodeStatistics();
  return {
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    heapTotal: usage.heapTotal,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    spaces,
    code: {
      bytecodeAndMetadata: code.bytecode_and_metadata_size,
      codeAndMetadata: code.code_and_metadata_size,
      externalScriptSource: code.external_script_source_size,
    },
    kernel: kernelView('self'),
  };
}

/** What the kernel says of a process's memory (`self` or a pid), in bytes. */
export function kernelView(pid) {
  return {
    ...kernelFields(`/proc/${pid}/status`, ['VmRSS', 'VmHWM', 'RssAnon', 'RssFile', 'RssShmem']),
    ...kernelFields(`/proc/${pid}/smaps_rollup`, ['Pss', 'Shared_Clean', 'Private_Clean', 'Private_Dirty', 'Anonymous']),
  };
}

function kernelFields(file, names) {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  const out = {};
  for (const name of names) {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    if (m) out[name] = Number(m[1]) * 1024;
  }
  return out;
}

const target = process.env.HERD_MEMORY_PROBE;
if (target) {
  // Says it is there, so nobody sends SIGUSR2 (which would end it) to a process without it.
  writeFileSync(`${target}.${process.pid}.ready`, '');
  process.on('SIGUSR2', () => {
    writeFileSync(`${target}.${process.pid}.json`, JSON.stringify(memorySnapshot()));
    // HERD_MEMORY_PROBE_HEAP=1: a heap snapshot too, for a closer look (Chrome DevTools, Memory tab).
    if (process.env.HERD_MEMORY_PROBE_HEAP === '1') v8.writeHeapSnapshot(`${target}.${process.pid}.heapsnapshot`);
  });
}
