// A rollout that halts itself, with no server: six real agents, a release that cannot pass its
// health gate rolled in three waves. The first wave's instances fail it, go back and leave
// failure markers; the later waves count them before applying, and keep what they run: they
// never drain and their apps are the same processes. `herd status` shows the halt, `status
// --wait` exits 1 naming it, the next roll keeps `previous` at the release the fleet converged
// on, and `roll --wait` exits 0 once every instance runs a good release healthy.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slotOf, waveOf } from '../../agent/rollout/decide.ts';
import {
  HELLO_APP, S3_ENV, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace,
  type AgentProcess, type Workspace,
} from '../helpers/harness.ts';
import { codeVariant } from '../helpers/releases.ts';

const WAVES = 3;

/** Two instance ids in each of the three waves of a 100% rollout. */
function idsByWave(): string[][] {
  const waves: string[][] = [[], [], []];
  for (let i = 0; waves.some((w) => w.length < 2); i++) {
    const id = `i-halt-${i}`;
    const wave = waves[waveOf(slotOf(id), 100, WAVES)] as string[];
    if (wave.length < 2) wave.push(id);
  }
  return waves;
}

describe('a rollout that halts itself', () => {
  let ws: Workspace;
  const waves = idsByWave();
  const agents = new Map<string, { proc: AgentProcess; healthPort: number }>();
  const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...ws.storeFlags, ...args.slice(1)]);
  const status = async (id: string) => JSON.parse((await get(`http://127.0.0.1:${agents.get(id)?.healthPort}/status`)).body);

  beforeAll(async () => {
    ws = await workspace();
    const broken = await codeVariant(ws.dir, 'broken', (spec) => ({ ...spec, command: ['node', '-e', 'process.exit(1)'], health: { path: '/healthz', timeoutS: 5 } }));
    const good = await codeVariant(ws.dir, 'good');
    for (const [release, code] of [['g1', HELLO_APP], ['b2', broken], ['g3', good]] as const) {
      expect((await herd('publish', '--role', 'halt', '--code', code, '--release', release)).code).toBe(0);
    }
    expect((await herd('roll', '--role', 'halt', '--release', 'g1')).code).toBe(0);
    for (const id of waves.flat()) {
      const [healthPort, appPort] = [await freePort(), await freePort()];
      const configFile = join(ws.dir, `${id}.json`);
      await writeFile(configFile, JSON.stringify({
        sources: [{ bucket: ws.bucket, endpoint: ws.s3.endpoint }], dataDir: join(ws.dir, id),
        healthPort, healthHost: '127.0.0.1', appPort, appUser: null, pollIntervalS: 0.5, drainS: 0.3,
        identity: { provider: 'static', instanceId: id, role: 'halt', az: 'zone-a', region: 'local' },
      }));
      agents.set(id, { proc: startAgent(configFile, cleanEnv(S3_ENV)), healthPort });
    }
    await waitUntil('every agent on g1', async () => {
      const all = await Promise.all(waves.flat().map(status));
      return all.every((s) => s.release === 'g1' && s.healthy) || undefined;
    }, 60_000);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([...agents.values()].map((a) => a.proc.stop()));
    await ws?.close();
  });

  it('stops a broken release after the first wave: the later waves never drain, their apps untouched', async () => {
    const later = [...(waves[1] as string[]), ...(waves[2] as string[])];
    const pidsBefore = Object.fromEntries(await Promise.all(later.map(async (id) => [id, (await status(id)).pid])));
    const rolled = await herd('roll', '--role', 'halt', '--release', 'b2', '--waves', String(WAVES), '--wave-interval', '6', '--json');
    expect(rolled.code).toBe(0);
    // Right after the fleet came up on g1 (its reports may lag /status by a moment), g1 is what it converged on.
    expect(JSON.parse(rolled.stdout).channel).toMatchObject({ release: 'b2', previous: 'g1' });

    // The first wave fails b2 and goes back to g1; its markers halt the rollout.
    await waitUntil('the first wave back on g1 after failing b2', async () => {
      const first = await Promise.all((waves[0] as string[]).map(status));
      return first.every((s) => s.release === 'g1' && s.healthy && (s.failedReleases ?? Object.keys(s.failed ?? {})).length >= 0)
        && first.some((s) => JSON.stringify(s).includes('b2')) || undefined;
    }, 30_000);
    const wait = await herd('status', '--role', 'halt', '--wait', '--timeout', '30');
    expect(wait.code, wait.stderr).toBe(1);
    expect(wait.stderr).toMatch(/rollout of b2 \(generation \d+\) halted after \d failures? \(max failures 1\)/);

    // Past both later waves' times: they counted the markers and kept g1.
    await new Promise((r) => setTimeout(r, 13_000));
    for (const id of later) {
      const s = await status(id);
      expect({ id, release: s.release, healthy: s.healthy, pid: s.pid }).toEqual({ id, release: 'g1', healthy: true, pid: pidsBefore[id] });
      expect(s.lastError, id).toMatch(/halted/);
      const lines = agents.get(id)?.proc.lines ?? [];
      expect(lines.some((l) => l.msg === 'draining'), `${id} drained`).toBe(false);
      expect(lines.some((l) => l.msg === 'rollout halted: keeping what runs'), `${id} saw the halt`).toBe(true);
    }

    const shown = await herd('status', '--role', 'halt');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/halted\s+YES: \d instances? failed b2 \(max failures 1\)/);
    for (const id of waves[0] as string[]) expect(shown.stdout).toContain(id);
    const json = JSON.parse((await herd('status', '--role', 'halt', '--json')).stdout);
    expect(json.rollout.halted).toBe(true);
    expect(json.rollout.failures.map((f: { instance: string }) => f.instance).every((i: string) => (waves[0] as string[]).includes(i))).toBe(true);
  }, 90_000);

  it('the next roll keeps previous at the release the fleet converged on, and --wait exits 0 once all run it healthy', async () => {
    const rolled = await herd('roll', '--role', 'halt', '--release', 'g3', '--wait', '--timeout', '60', '--json');
    expect(rolled.code, rolled.stderr).toBe(0);
    const out = JSON.parse(rolled.stdout);
    expect(out.channel).toMatchObject({ release: 'g3', previous: 'g1' });
    expect(out.counts.done).toBe(6);
    for (const id of waves.flat()) expect((await status(id)).release).toBe('g3');
  }, 90_000);
});
