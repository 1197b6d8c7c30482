// Restarts are counted once each: /status's count, the restart metric and the real
// relaunches of the app agree, and the crash loop is declared after CRASH_LOOP_RESTARTS real
// restarts. (The runner used to count a restart that exits before its health gate twice,
// relaunch it twice, and call a crash loop after two.)
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../support/ports.ts';
import { createMetrics } from '../../agent/health/metrics.ts';
import { silentLogger } from '../../agent/log.ts';
import type { InstalledRelease } from '../../agent/releases/data-dir.ts';
import type { ReleaseManifest } from '../../agent/store/schemas.ts';
import { ReleaseRunner } from '../../agent/supervisor/release-runner.ts';
import { CRASH_LOOP_RESTARTS, planRestart } from '../../agent/supervisor/restart-policy.ts';

const APP = path.resolve(import.meta.dirname, '../fixtures/apps/dies-after-first-run.mjs');
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => { for (const f of cleanup.splice(0)) await f(); });

describe('planRestart', () => {
  it.each([[0, false], [1, false], [CRASH_LOOP_RESTARTS - 1, false], [CRASH_LOOP_RESTARTS, true], [10, true]])(
    'after %i restarts one more exit is a crash loop: %s', (streak, crashLoop) => {
      expect(planRestart(streak, () => 0).crashLoop).toBe(crashLoop);
    });
  it('backs off: 0.5-1 s, then doubling, capped at 60 s', () => {
    expect(planRestart(0, () => 0).delayMs).toBe(500);
    expect(planRestart(0, () => 1).delayMs).toBe(1_000);
    expect(planRestart(1, () => 1).delayMs).toBe(2_000);
    expect(planRestart(20, () => 1).delayMs).toBe(60_000);
  });
});

describe('ReleaseRunner restarts', () => {
  it('counts each real restart once, in /status and the metric, and declares the crash loop after CRASH_LOOP_RESTARTS', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'herd-restarts-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const launchLog = path.join(dir, 'launches');
    await writeFile(launchLog, '');
    const metrics = createMetrics();
    let sawCrashLoop: { restarts: number; launches: number; metric: number } | null = null;
    const launches = async () => (await readFile(launchLog, 'utf8')).trim().split('\n').filter(Boolean).length;
    const metric = async () => (await metrics.appRestarts.get()).values[0]?.value ?? 0;
    const runner: ReleaseRunner = new ReleaseRunner({
      identity: { instanceId: 'i-1', role: 'web', az: 'a', region: 'r', provider: 'static' },
      baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin', LAUNCH_LOG: launchLog }, configDir: dir, metrics, log: silentLogger(),
      random: () => 0,
      onChange: () => {
        if (runner.state === 'crash-loop' && !sawCrashLoop) {
          const restarts = runner.restarts;
          void Promise.all([launches(), metric()]).then(([l, m]) => { sawCrashLoop = { restarts, launches: l, metric: m }; });
        }
      },
    });
    cleanup.push(() => runner.stop());
    const manifest = {
      schema: 'herd/release@1', role: 'web', id: 'r1', createdAt: new Date().toISOString(),
      code: { digest: `sha256:${'0'.repeat(64)}`, size: 1 }, config: null,
      run: { command: [process.execPath, APP], port: await freePort(), health: { path: '/healthz', timeoutS: 5 } },
    } as ReleaseManifest;
    const release: InstalledRelease = { id: 'r1', manifest, dir, codeDir: dir, configDir: dir };

    expect((await runner.start(release)).healthy).toBe(true);
    const deadline = Date.now() + 30_000;
    while (!sawCrashLoop && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(sawCrashLoop).toEqual({ restarts: CRASH_LOOP_RESTARTS, launches: CRASH_LOOP_RESTARTS + 1, metric: CRASH_LOOP_RESTARTS });
    await runner.stop();
    const [l, m] = [await launches(), await metric()];
    expect(runner.restarts).toBe(l - 1);
    expect(m).toBe(l - 1);
  }, 40_000);
});
