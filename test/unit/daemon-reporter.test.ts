// The instance report's timing: nextReportAt as a table, and the Reporter with fake timers:
// one write per burst of changes, a heartbeat after a quiet reportHeartbeatS, a last write on close.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { nextReportAt, REPORT_DEBOUNCE_MS, Reporter } from '../../agent/daemon/reporter.ts';
import { silentLogger } from '../../agent/log.ts';
import type { InstanceReport } from '../../agent/store/schemas.ts';

describe('nextReportAt', () => {
  it.each([
    ['nothing written, nothing changed: nothing due', null, null, null],
    ['a change waits the debounce', 1_000, null, 1_000 + REPORT_DEBOUNCE_MS],
    ['quiet since the last write: a heartbeat after it', null, 5_000, 65_000],
    ['a change after a write: the debounce, not the heartbeat', 7_000, 5_000, 7_000 + REPORT_DEBOUNCE_MS],
    ['a change pending past the heartbeat: the heartbeat is sooner', 70_000, 5_000, 65_000],
  ])('%s', (_what, pendingSince, lastWriteAt, expected) => {
    expect(nextReportAt({ pendingSince, lastWriteAt }, 60_000)).toBe(expected);
  });
});

describe('Reporter', () => {
  beforeEach(() => { vi.useFakeTimers({ now: 0 }); });
  afterEach(() => { vi.useRealTimers(); });

  function reporter(heartbeatMs = 60_000) {
    const writes: number[] = [];
    const r = new Reporter({
      build: () => ({ updatedAt: new Date().toISOString() } as InstanceReport),
      write: async () => { writes.push(Date.now()); },
      heartbeatMs: () => heartbeatMs, log: silentLogger(),
    });
    return { r, writes };
  }

  it('writes once for changes within the debounce, then again only at the heartbeat', async () => {
    const { r, writes } = reporter();
    r.changed();
    await vi.advanceTimersByTimeAsync(200);
    r.changed();
    r.changed();
    await vi.advanceTimersByTimeAsync(130_000);
    expect(writes).toEqual([500, 60_500, 120_500]);
  });

  it('a change after a write is written a debounce later, and the heartbeat counts from that write', async () => {
    const { r, writes } = reporter(1_800_000);
    r.changed();
    await vi.advanceTimersByTimeAsync(10_000);
    r.changed();
    await vi.advanceTimersByTimeAsync(1_801_000);
    expect(writes).toEqual([500, 10_500, 1_810_500]);
  });

  it('writes a last time on close, and nothing after', async () => {
    const { r, writes } = reporter();
    r.changed();
    await vi.advanceTimersByTimeAsync(1_000);
    await r.close();
    r.changed();
    await vi.advanceTimersByTimeAsync(200_000);
    expect(writes).toEqual([500, 1_000]);
  });
});
