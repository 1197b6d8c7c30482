// watchConfigFile over a real file: one call back per settled change, whether an editor
// writes in place or replaces the file by rename; none while the file is gone, one when it
// is back; none after close.
import { readFileSync } from 'node:fs';
import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { watchConfigFile } from '../../agent/config-watch.ts';
import { silentLogger } from '../../agent/log.ts';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('watchConfigFile', () => {
  let dir: string;
  let file: string;
  let calls: number;
  let close: () => Promise<void>;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herd-config-watch-'));
    file = join(dir, 'agent.json');
    await writeFile(file, '{"v":1}');
    calls = 0;
    close = watchConfigFile({ file, log: silentLogger(), onChange: () => { calls++; }, pollMs: 50, settleMs: 100 });
    await pause(120);
  });
  afterEach(async () => {
    await close();
    await rm(dir, { recursive: true, force: true });
  });

  it('calls back once for a file written in place', async () => {
    await writeFile(file, '{"v":2, "padding": "a longer file"}');
    await vi.waitFor(() => expect(calls).toBe(1), { timeout: 3000 });
    await pause(400);
    expect(calls).toBe(1);
  });

  it('calls back once for a file replaced by rename', async () => {
    await writeFile(join(dir, 'agent.json.new'), '{"v":3, "padding": "replaced whole"}');
    await rename(join(dir, 'agent.json.new'), file);
    await vi.waitFor(() => expect(calls).toBe(1), { timeout: 3000 });
    await pause(400);
    expect(calls).toBe(1);
  });

  it('waits for a run of writes to settle before calling back', async () => {
    await close();
    const seen: string[] = [];
    close = watchConfigFile({ file, log: silentLogger(), onChange: () => { seen.push(readFileSync(file, 'utf8')); }, pollMs: 50, settleMs: 150 });
    await pause(120);
    for (let i = 0; i < 6; i++) {
      await writeFile(file, `{"v":${i}${' '.repeat(i * 10)}}`);
      await pause(40);
    }
    await vi.waitFor(() => expect(seen.at(-1)).toBe(`{"v":5${' '.repeat(50)}}`), { timeout: 3000 });
    expect(seen.length).toBeLessThan(3);
  });

  it('keeps quiet while the file is gone and calls back when it is back', async () => {
    await unlink(file);
    await pause(400);
    expect(calls).toBe(0);
    await writeFile(file, '{"v":4}');
    await vi.waitFor(() => expect(calls).toBe(1), { timeout: 3000 });
  });

  it('stops calling back once closed', async () => {
    await close();
    await writeFile(file, '{"v":5, "padding": "after close"}');
    await pause(400);
    expect(calls).toBe(0);
  });
});
