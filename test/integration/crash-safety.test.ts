// An agent SIGKILLed at any point of an apply leaves a data directory the next run can use
// (SPEC "Data directory": a release directory appears only complete): `current` points at a
// complete release, the next run removes the staging and .part leftovers, serves, and
// converges to the channel's release. Kills land mid-download, mid-extract (a many-file
// bundle arriving slowly), while draining, and between stopping the old app and starting
// the new one. And an agent killed without its app finds that app still holding the port.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.ts';
import {
  HELLO_APP, HELLO_CONFIG, S3_ENV, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace,
  type AgentProcess, type Workspace,
} from '../helpers/harness.ts';
import { codeVariant } from '../helpers/releases.ts';

const BIG_BYTES = 30 * 1024 * 1024;
const MANY_FILES = 3000;

/** Every pid the agent's log says it started an app as; each is its own process group. */
function appPids(agent: AgentProcess): number[] {
  return agent.lines.filter((l) => l.msg === 'app started' && typeof l.pid === 'number').map((l) => l.pid as number);
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    return (err as Error).message;
  }
}

/** Running: a zombie (exited, not yet reaped by whoever inherited it) is not. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** SIGKILL, as the OOM killer or a power cut would: no cleanup runs. */
async function killHard(agent: AgentProcess, withApp: boolean): Promise<void> {
  agent.child.kill('SIGKILL');
  await agent.exited;
  if (!withApp) return;
  for (const pid of appPids(agent)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // that group is gone already
    }
  }
  await waitUntil('the app processes gone', async () => appPids(agent).every((pid) => !alive(pid)) || undefined);
}

/** What the next boot finds: the release `current` points at, and whether it is complete. */
async function currentOnDisk(dataDir: string): Promise<{ id: string; complete: boolean }> {
  const target = await readlink(join(dataDir, 'current'));
  const id = target.split('/').pop() as string;
  const manifest = await readFile(join(dataDir, target, 'manifest.json'), 'utf8').then(JSON.parse, () => null);
  const code = await stat(join(dataDir, target, 'code')).then((s) => s.isDirectory(), () => false);
  return { id, complete: manifest?.id === id && code };
}

/** Staging directories, partial blobs, and temp files of atomic writes (state.json, the `current` swap). */
async function leftovers(dataDir: string): Promise<string[]> {
  const staging = (await readdir(join(dataDir, 'releases'))).filter((n) => n.startsWith('.'));
  const parts = (await readdir(join(dataDir, 'blobs'))).filter((n) => !/^[0-9a-f]{64}$/.test(n));
  const temps = (await readdir(dataDir)).filter((n) => n.endsWith('.tmp'));
  return [...staging, ...parts, ...temps];
}

describe('an agent killed in the middle of an apply', () => {
  let ws: Workspace;
  let proxy: FaultProxy;
  let agent: AgentProcess;
  let configFile: string;
  let dataDir: string;
  let healthPort: number;
  let appPort: number;
  const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...ws.storeFlags, ...args.slice(1)]);
  const status = async () => JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body);
  const roll = async (release: string) => expect((await herd('roll', '--role', 'web', '--release', release)).code).toBe(0);
  const booted: AgentProcess[] = [];
  const boot = () => {
    agent = startAgent(configFile, cleanEnv(S3_ENV));
    booted.push(agent);
  };
  const waitRunning = (release: string, timeoutMs = 45_000) => waitUntil(`running ${release}`, async () => {
    const s = await status();
    return s.release === release && s.healthy && s.state === 'running' ? s : undefined;
  }, timeoutMs);

  /** After a restart: converged, serving, nothing left of the cut-short apply. */
  async function expectRecovered(release: string): Promise<void> {
    await waitRunning(release);
    // Running shows in /status a moment before state.json is written: let that write finish.
    await waitUntil('state.json saying so', async () => JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')).lastKnownGood === release || undefined);
    expect(JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body).release).toBe(release);
    expect(await currentOnDisk(dataDir)).toEqual({ id: release, complete: true });
    expect(await leftovers(dataDir)).toEqual([]);
  }

  beforeAll(async () => {
    ws = await workspace();
    proxy = await startFaultProxy({ upstream: ws.s3.endpoint });
    const big = await codeVariant(ws.dir, 'big');
    await writeFile(join(big, 'payload.bin'), randomBytes(BIG_BYTES));
    const many = await codeVariant(ws.dir, 'many');
    for (let d = 0; d < 30; d++) {
      await mkdir(join(many, 'files', `d${d}`), { recursive: true });
      await Promise.all(Array.from({ length: MANY_FILES / 30 }, (_, f) => writeFile(join(many, 'files', `d${d}`, `f${f}.bin`), randomBytes(1024))));
    }
    // c1 first: it uploads the config bundle the others share, which they then find in place.
    expect((await herd('publish', '--role', 'web', '--code', HELLO_APP, '--config', HELLO_CONFIG, '--release', 'c1')).code).toBe(0);
    const published = await Promise.all([
      herd('publish', '--role', 'web', '--code', big, '--config', HELLO_CONFIG, '--release', 'big'),
      herd('publish', '--role', 'web', '--code', many, '--config', HELLO_CONFIG, '--release', 'many'),
      herd('publish', '--role', 'web', '--code', await codeVariant(ws.dir, 'c2'), '--config', HELLO_CONFIG, '--release', 'c2'),
      herd('publish', '--role', 'web', '--code', await codeVariant(ws.dir, 'c3'), '--config', HELLO_CONFIG, '--release', 'c3'),
    ]);
    for (const p of published) expect(p.code, p.stderr).toBe(0);
    await roll('c1');
    [healthPort, appPort] = [await freePort(), await freePort()];
    dataDir = join(ws.dir, 'data');
    configFile = join(ws.dir, 'agent.json');
    await writeFile(configFile, JSON.stringify({
      sources: [{ bucket: ws.bucket, endpoint: proxy.url }], dataDir, healthPort, healthHost: '127.0.0.1', appPort, appUser: null,
      pollIntervalS: 0.5, drainS: 1.5, keepReleases: 5,
      identity: { provider: 'static', instanceId: 'i-crash-safe', role: 'web', az: 'z1', region: 'r1' },
    }));
    boot();
    await waitRunning('c1');
  });

  afterAll(async () => {
    if (process.env.HERD_TEST_DUMP) await writeFile(process.env.HERD_TEST_DUMP, booted.flatMap((a, i) => a.lines.map((l) => JSON.stringify({ agent: i, ...l }))).join('\n'));
    for (const a of booted) await killHard(a, true).catch(() => {});
    await proxy?.close();
    await ws?.close();
  });

  it('killed mid-download: current stays on the complete old release; the next run cleans up and converges', async () => {
    await proxy.set({ mode: 'throttle', bytesPerSecond: 2 * 1024 * 1024, only: '/blobs/' });
    await roll('big');
    await waitUntil('a partial download on disk', async () => {
      const parts = (await readdir(join(dataDir, 'blobs'))).filter((n) => n.endsWith('.part'));
      const size = parts[0] ? (await stat(join(dataDir, 'blobs', parts[0])).catch(() => null))?.size ?? 0 : 0;
      return size > 1024 * 1024 || undefined;
    });
    await killHard(agent, true);
    expect(await currentOnDisk(dataDir)).toEqual({ id: 'c1', complete: true });
    // The half-downloaded blob's .part goes with the installer, which ends on the short bundle
    // once the agent is gone; the staging directory is the next run's to remove.
    const left = await leftovers(dataDir);
    expect(left).toEqual(expect.arrayContaining([expect.stringMatching(/^\.staging-big-/)]));
    expect(left.filter((n) => !n.startsWith('.staging-') && !n.endsWith('.part'))).toEqual([]);
    await proxy.set({ mode: 'pass' });
    boot();
    await expectRecovered('big');
    expect(agent.lines.filter((l) => l.msg === 'removed an unfinished release directory').map((l) => l.leftover)).toEqual([expect.stringMatching(/^\.staging-big-/)]);
  });

  it('killed mid-extract of a many-file bundle: the half-written tree never becomes a release', async () => {
    await proxy.set({ mode: 'throttle', bytesPerSecond: 1024 * 1024, only: '/blobs/' });
    await roll('many');
    const staging = await waitUntil('a partly extracted tree', async () => {
      const dir = (await readdir(join(dataDir, 'releases'))).find((n) => n.startsWith('.staging-many-'));
      if (!dir) return undefined;
      const dirs = await readdir(join(dataDir, 'releases', dir, 'code', 'files')).catch(() => []);
      return dirs.length >= 3 ? dir : undefined;
    });
    await killHard(agent, true);
    const extracted = await readdir(join(dataDir, 'releases', staging, 'code', 'files'));
    expect(extracted.length).toBeLessThan(30);
    expect(await currentOnDisk(dataDir)).toEqual({ id: 'big', complete: true });
    expect(await readdir(join(dataDir, 'releases'))).not.toContain('many');
    await proxy.set({ mode: 'pass' });
    boot();
    await expectRecovered('many');
    expect((await readdir(join(dataDir, 'releases', 'many', 'code', 'files'))).length).toBe(30);
  });

  it('killed while draining: the old release is still current and complete; the next run converges', async () => {
    await roll('c2');
    await waitUntil('draining', async () => agent.lines.some((l) => l.msg === 'draining') || undefined);
    await killHard(agent, true);
    expect(await currentOnDisk(dataDir)).toEqual({ id: 'many', complete: true });
    // What a kill inside writeFileAtomic(state.json) or the `current` swap would leave behind.
    await writeFile(join(dataDir, '.state.json.0123456789ab.tmp'), '{"schema": "herd/sta');
    await symlink('releases/c2', join(dataDir, '.current.0123456789ab.tmp'));
    boot();
    await expectRecovered('c2');
  });

  it('killed between stopping the old app and starting the new one: current is one of the two, complete', async () => {
    await roll('c3');
    const oldPid = (await status()).pid as number;
    await waitUntil('the old app stopped', async () => agent.lines.some((l) => l.msg === 'app stopped' && l.pid === oldPid) || undefined);
    await killHard(agent, true);
    const current = await currentOnDisk(dataDir);
    expect(['c2', 'c3']).toContain(current.id);
    expect(current.complete).toBe(true);
    boot();
    await expectRecovered('c3');
  });

  // A SIGKILLed agent leaves its app running (it has its own process group, so nothing
  // takes it down). Under systemd the unit's cgroup is killed after the main process dies;
  // anywhere else (a container without an init, another supervisor, a hand-run agent) the
  // orphan keeps the app port, and the next run must not take the orphan's answers on that
  // port for its own app's health.
  it('killed without its app: the next run takes the port back from the orphan and serves from an app it supervises', async () => {
    const orphan = (await status()).pid as number;
    await killHard(agent, false);
    expect(alive(orphan)).toBe(true);
    const record = readFileSafe(join(dataDir, 'app.pid'));
    boot();
    try {
      await waitUntil('the agent serving from the app it started', async () => {
        const s = await status();
        if (s.state !== 'running' || !s.healthy) return undefined;
        const answer = JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body);
        return answer.pid === s.pid || undefined;
      }, 45_000).catch((err: unknown) => {
        // Seen in loaded CI runs and never here: say what the agent did, in the failure itself
        // (CI shows the summary, not what a test printed on the way).
        const lines = agent.lines.slice(-25).map((l) => `${l.msg} ${JSON.stringify({ ...l, msg: undefined, time: undefined, level: undefined, hostname: undefined })}`);
        throw new Error(`${(err as Error).message}; orphan ${orphan} alive: ${alive(orphan)}; app.pid before the boot: ${record}; the new agent's last lines:\n${lines.join('\n')}`);
      });
      expect(alive(orphan)).toBe(false);
    } finally {
      try {
        process.kill(-orphan, 'SIGKILL');
      } catch {
        // reaped already
      }
    }
  });
});
