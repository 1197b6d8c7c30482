// compactHeapWhileIdle: V8's last-resort collection every 30 s when gc() is exposed,
// nothing otherwise, and never a timer that holds the process open.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { COMPACT_EVERY_MS, compactHeapWhileIdle } from '../../agent/heap-compaction.ts';
import { silentLogger } from '../../agent/log.ts';

const MODULE = fileURLToPath(new URL('../../agent/heap-compaction.ts', import.meta.url));

describe('compactHeapWhileIdle', () => {
  beforeEach(() => { vi.useFakeTimers(); });
  afterEach(() => { vi.useRealTimers(); });

  it('asks V8 for a last-resort collection every 30 s until stopped', () => {
    const gc = vi.fn();
    const { stop } = compactHeapWhileIdle({ log: silentLogger(), gc });
    vi.advanceTimersByTime(COMPACT_EVERY_MS - 1);
    expect(gc).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(gc).toHaveBeenCalledExactlyOnceWith({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    vi.advanceTimersByTime(2 * COMPACT_EVERY_MS);
    expect(gc).toHaveBeenCalledTimes(3);
    stop();
    vi.advanceTimersByTime(5 * COMPACT_EVERY_MS);
    expect(gc).toHaveBeenCalledTimes(3);
  });

  it('does nothing when gc() is not exposed', () => {
    const compaction = compactHeapWhileIdle({ log: silentLogger(), gc: undefined });
    expect(vi.getTimerCount()).toBe(0);
    compaction.compactNow();
    compaction.stop();
  });

  it('compacts through the real gc() and leaves the process free to exit', () => {
    // A node with --expose-gc, as the agent runs: the timer must not keep it alive.
    const script = `
      const { compactHeapWhileIdle } = await import(${JSON.stringify(MODULE)});
      let calls = 0;
      const compaction = compactHeapWhileIdle({ log: { debug() {} }, everyMs: 20, gc: (options) => { calls++; globalThis.gc(options); } });
      compaction.compactNow();
      setTimeout(() => { process.stdout.write(String(calls)); }, 300);`;
    const child = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(Number(child.stdout)).toBeGreaterThanOrEqual(4);
  });
});
