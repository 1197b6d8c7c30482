// The parts of prom-client the agent uses, taken file by file. Its index also loads the
// cluster aggregator (node:cluster), the pushgateway, and default metrics that watch the
// event loop and GC (node:perf_hooks) and V8's heap spaces (node:v8): 1.1 MB more resident
// in every idle agent. The process metrics kept are prom-client's own, but for CPU time, whose
// file pulls in OpenTelemetry for exemplars; it is counted here the same way.
import type * as PromClient from 'prom-client';
import CounterFile from 'prom-client/lib/counter.js';
import GaugeFile from 'prom-client/lib/gauge.js';
import RegistryFile from 'prom-client/lib/registry.js';
import heapSizeAndUsed from 'prom-client/lib/metrics/heapSizeAndUsed.js';
import osMemoryHeap from 'prom-client/lib/metrics/osMemoryHeap.js';
import processMaxFileDescriptors from 'prom-client/lib/metrics/processMaxFileDescriptors.js';
import processOpenFileDescriptors from 'prom-client/lib/metrics/processOpenFileDescriptors.js';
import processStartTime from 'prom-client/lib/metrics/processStartTime.js';
import nodeVersion from 'prom-client/lib/metrics/version.js';

export const Registry = RegistryFile as typeof PromClient.Registry;
export const Counter = CounterFile as typeof PromClient.Counter;
export const Gauge = GaugeFile as typeof PromClient.Gauge;
export type Registry = PromClient.Registry;
export type Counter<T extends string = string> = PromClient.Counter<T>;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;

type ProcessMetric = (registry: Registry) => void;

/**
 * The process's own metrics on `registry`: CPU seconds (process_cpu_user_seconds_total,
 * _system_, and both), resident and virtual memory, open and maximum file descriptors,
 * start time, V8's heap size and use, and Node's version.
 */
export function collectProcessMetrics(registry: Registry): void {
  for (const metric of [osMemoryHeap, processOpenFileDescriptors, processMaxFileDescriptors, processStartTime, heapSizeAndUsed, nodeVersion]) {
    (metric as ProcessMetric)(registry);
  }
  cpuSeconds(registry);
}

function cpuSeconds(registry: Registry): void {
  const registers = [registry];
  const counters = {
    user: new Counter({ name: 'process_cpu_user_seconds_total', help: 'Total user CPU time spent in seconds.', registers, collect }),
    system: new Counter({ name: 'process_cpu_system_seconds_total', help: 'Total system CPU time spent in seconds.', registers }),
    both: new Counter({ name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.', registers }),
  };
  let last = process.cpuUsage();
  // One collect() sets all three, as prom-client's own does.
  function collect(): void {
    const now = process.cpuUsage();
    const user = (now.user - last.user) / 1e6;
    const system = (now.system - last.system) / 1e6;
    last = now;
    counters.user.inc(user);
    counters.system.inc(system);
    counters.both.inc(user + system);
  }
}
