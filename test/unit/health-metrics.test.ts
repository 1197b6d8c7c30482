// Each agent gets its own registry with the metrics an operator charts.
import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../agent/health/metrics.ts';

describe('createMetrics', () => {
  it('registers the herd metrics and process metrics on its own registry', async () => {
    const metrics = createMetrics();
    const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining([
      'herd_app_healthy', 'herd_app_up', 'herd_app_restarts_total', 'herd_release_info', 'herd_fetches_total',
      'herd_fetch_bytes_total', 'herd_channel_polls_total', 'herd_draining', 'process_resident_memory_bytes',
    ]));
    expect(await globalRegistry.getSingleMetric('herd_app_healthy')).toBeUndefined();
  });

  it('counts the process\'s CPU time, user and system, and the process metrics an operator charts', async () => {
    const metrics = createMetrics();
    const value = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await metrics.registry.metrics())?.[1]);
    const before = await value('process_cpu_seconds_total');
    const until = Date.now() + 60;
    while (Date.now() < until) Math.sqrt(Math.random());
    const after = await value('process_cpu_seconds_total');
    expect(after).toBeGreaterThan(before);
    expect(await value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(await value('process_start_time_seconds')).toBeGreaterThan(1.7e9);
    expect(await value('process_open_fds')).toBeGreaterThan(2);
  });

  it('lets two agents live in one process without clashing', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.appRestarts.inc();
    a.appRestarts.inc();
    b.draining.set(1);
    const text = await a.registry.metrics();
    expect(text).toMatch(/^herd_app_restarts_total 2$/m);
    expect(text).toMatch(/^herd_draining 0$/m);
    expect(await b.registry.metrics()).toMatch(/^herd_app_restarts_total 0$/m);
  });

  it('keeps herd_release_info at one series, for the running release', async () => {
    const metrics = createMetrics();
    metrics.setRelease('r1');
    metrics.setRelease('r2');
    const text = await metrics.registry.metrics();
    expect(text.split('\n').filter((l) => l.startsWith('herd_release_info{'))).toEqual(['herd_release_info{release="r2"} 1']);
    metrics.setRelease(null);
    expect((await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith('herd_release_info{'))).toEqual([]);
  });
});
