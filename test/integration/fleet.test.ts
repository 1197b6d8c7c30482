// Several real agents on one channel: a 50% rollout lands on the instances whose slot is in it,
// waves wait for their time, pause holds a rollout where it is, resume lets it go on, rollback
// brings everyone back, and `herd status` shows it all.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slotOf } from '../../agent/rollout/decide.ts';
import {
  HELLO_APP, S3_ENV, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace,
  type AgentProcess, type Workspace,
} from '../helpers/harness.ts';
import { codeVariant } from '../helpers/releases.ts';

/** Three instance ids in the lower half of the slots and three in the upper. */
function fleetIds(): string[] {
  const low: string[] = [];
  const high: string[] = [];
  for (let i = 0; low.length < 3 || high.length < 3; i++) {
    const id = `i-fleet-${i}`;
    if (slotOf(id) < 50 && low.length < 3) low.push(id);
    else if (slotOf(id) >= 50 && high.length < 3) high.push(id);
  }
  return [...low, ...high];
}

describe('a fleet of agents on one channel', () => {
  let ws: Workspace;
  const ids = fleetIds();
  const agents: Array<{ id: string; proc: AgentProcess; healthPort: number }> = [];
  const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...ws.storeFlags, ...args.slice(1)]);
  const releases = async () => Object.fromEntries(await Promise.all(agents.map(async (a) => {
    const s = JSON.parse((await get(`http://127.0.0.1:${a.healthPort}/status`)).body);
    return [a.id, s.healthy ? s.release : `unhealthy:${s.release}`];
  })));
  const waitFleet = (what: string, want: (id: string) => string, timeoutMs = 30_000) => waitUntil(what, async () => {
    const now = await releases();
    return ids.every((id) => now[id] === want(id)) ? now : undefined;
  }, timeoutMs);
  const lowHalf = (id: string) => slotOf(id) < 50;

  beforeAll(async () => {
    ws = await workspace();
    for (const [release, marker] of [['f1', 'f1'], ['f2', 'f2'], ['f3', 'f3']] as const) {
      const code = release === 'f1' ? HELLO_APP : await codeVariant(ws.dir, marker);
      expect((await herd('publish', '--role', 'fleet', '--code', code, '--release', release)).code).toBe(0);
    }
    expect((await herd('roll', '--role', 'fleet', '--release', 'f1')).code).toBe(0);
    for (const [i, id] of ids.entries()) {
      const [healthPort, appPort] = [await freePort(), await freePort()];
      const configFile = join(ws.dir, `${id}.json`);
      await writeFile(configFile, JSON.stringify({
        sources: [{ bucket: ws.bucket, endpoint: ws.s3.endpoint }], dataDir: join(ws.dir, id),
        healthPort, healthHost: '127.0.0.1', appPort, appUser: null, pollIntervalS: 0.5, drainS: 0.3,
        identity: { provider: 'static', instanceId: id, role: 'fleet', az: `zone-${'abc'[i % 3]}`, region: 'local' },
      }));
      agents.push({ id, proc: startAgent(configFile, cleanEnv(S3_ENV)), healthPort });
    }
    await waitFleet('all on f1', () => 'f1', 60_000);
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.proc.stop()));
    await ws?.close();
  });

  it('a 50% rollout reaches exactly the instances whose slot is below 50', async () => {
    const rolled = await herd('roll', '--role', 'fleet', '--release', 'f2', '--percent', '50');
    expect(rolled.code).toBe(0);
    await waitFleet('half on f2', (id) => (lowHalf(id) ? 'f2' : 'f1'));
    // And it stays that way: the other half is not in the rollout.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await releases()).toEqual(Object.fromEntries(ids.map((id) => [id, lowHalf(id) ? 'f2' : 'f1'])));
  });

  it('waves apply in turn; pause holds the later wave; resume lets it go', async () => {
    // 100% in two waves: slots below 50 go now, the rest 10 s later unless paused.
    const rolledAt = Date.now();
    expect((await herd('roll', '--role', 'fleet', '--release', 'f3', '--waves', '2', '--wave-interval', '10')).code).toBe(0);
    await waitFleet('first wave on f3', (id) => (lowHalf(id) ? 'f3' : 'f2'));
    expect((await herd('pause', '--role', 'fleet')).code).toBe(0);
    expect(Date.now() - rolledAt).toBeLessThan(10_000);
    await new Promise((r) => setTimeout(r, Math.max(0, rolledAt + 12_000 - Date.now())));
    expect(await releases()).toEqual(Object.fromEntries(ids.map((id) => [id, lowHalf(id) ? 'f3' : 'f2'])));
    expect((await herd('resume', '--role', 'fleet')).code).toBe(0);
    await waitFleet('all on f3 after resume', () => 'f3', 30_000);
  });

  it('rollback brings the whole fleet back to the previous release', async () => {
    const back = await herd('rollback', '--role', 'fleet', '--json');
    expect(back.code).toBe(0);
    await waitFleet('all back on f2', () => 'f2');
  });

  it('herd status shows the channel and every instance', async () => {
    const table = await herd('status', '--role', 'fleet');
    expect(table.code).toBe(0);
    for (const id of ids) expect(table.stdout).toContain(id);
    expect(table.stdout).toContain('f2');
    const json = await waitUntil('six healthy reports on f2', async () => {
      const out = JSON.parse((await herd('status', '--role', 'fleet', '--json')).stdout);
      return out.summary.instances === 6 && out.summary.healthy === 6 && out.summary.onRelease === 6 ? out : undefined;
    });
    expect(json.channel).toMatchObject({ release: 'f2', previous: 'f3' });
    expect(json.instances.map((r: { az: string }) => r.az).sort()).toEqual(['zone-a', 'zone-a', 'zone-b', 'zone-b', 'zone-c', 'zone-c']);
  });
});
