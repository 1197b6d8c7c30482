// A running agent follows its channel: a code change drains and restarts, a config-only change
// reloads in place, a broken release is rolled back by the agent itself and not retried.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HELLO_APP, HELLO_CONFIG, S3_ENV, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace,
  type AgentProcess, type Workspace,
} from '../helpers/harness.ts';
import { codeVariant, configVariant, crashingApp } from '../helpers/releases.ts';

describe('an agent follows its channel', () => {
  let ws: Workspace;
  let agent: AgentProcess;
  let healthPort: number;
  let appPort: number;
  const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...ws.storeFlags, ...args.slice(1)]);
  const status = async () => JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body);
  const app = async () => JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body);
  const publishAndRoll = async (release: string, code: string, config?: string) => {
    const p = await herd('publish', '--role', 'web', '--code', code, '--release', release, ...(config ? ['--config', config] : []));
    expect(p.stderr.includes('herd:')).toBe(false);
    expect(p.code).toBe(0);
    expect((await herd('roll', '--role', 'web', '--release', release)).code).toBe(0);
  };
  const waitRunning = (release: string, timeoutMs = 30_000) => waitUntil(`running ${release}`, async () => {
    const s = await status();
    return s.release === release && s.healthy && s.state === 'running' ? s : undefined;
  }, timeoutMs);

  beforeAll(async () => {
    ws = await workspace();
    await publishAndRoll('v1', HELLO_APP, HELLO_CONFIG);
    [healthPort, appPort] = [await freePort(), await freePort()];
    const configFile = join(ws.dir, 'agent.json');
    await writeFile(configFile, JSON.stringify({
      sources: [{ bucket: ws.bucket, endpoint: ws.s3.endpoint }], dataDir: join(ws.dir, 'data'),
      healthPort, healthHost: '127.0.0.1', appPort, appUser: null, pollIntervalS: 0.5, drainS: 1, keepReleases: 2,
      identity: { provider: 'static', instanceId: 'i-follow', role: 'web', az: 'z1', region: 'r1' },
    }));
    agent = startAgent(configFile, cleanEnv(S3_ENV));
    await waitRunning('v1', 45_000);
  });

  afterAll(async () => {
    await agent?.stop();
    if (process.env.HERD_TEST_DUMP) await writeFile(process.env.HERD_TEST_DUMP, agent.lines.map((l) => JSON.stringify(l)).join('\n'));
    await ws?.close();
  });

  it('drains (503), restarts and serves a code change', async () => {
    const before = await status();
    const seen = new Set<number>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        seen.add((await get(`http://127.0.0.1:${healthPort}/healthz`).catch(() => ({ status: 0 }))).status);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await publishAndRoll('v2', await codeVariant(ws.dir, 'v2'), HELLO_CONFIG);
    const after = await waitRunning('v2');
    watching = false;
    await watcher;
    expect(seen.has(503)).toBe(true);
    expect(after.pid).not.toBe(before.pid);
    expect(await app()).toMatchObject({ release: 'v2', greeting: 'hello from the config bundle' });
    expect(agent.lines.some((l) => l.msg === 'draining')).toBe(true);
  });

  it('reloads a config-only change in place: same pid, new config, the app saw the signal', async () => {
    const before = await status();
    await publishAndRoll('v2-config2', await codeVariant(ws.dir, 'v2'), await configVariant(ws.dir, 'second config'));
    const after = await waitRunning('v2-config2');
    expect(after.pid).toBe(before.pid);
    expect((await app()).greeting).toBe('second config');
    expect(agent.lines.some((l) => l.module === 'app' && String(l.msg).includes('config reloaded: greeting=second config'))).toBe(true);
  });

  it('goes back by itself when a release fails its health gate, and does not retry it', async () => {
    const before = await status();
    const broken = await codeVariant(ws.dir, 'broken', (spec) => ({ ...spec, command: ['node', '-e', 'console.error("cannot start"); process.exit(1)'], health: { path: '/healthz', timeoutS: 5 } }));
    await publishAndRoll('broken', broken);
    const back = await waitUntil('back on v2-config2 with the failure recorded', async () => {
      const s = await status();
      return s.release === 'v2-config2' && s.healthy && s.failedReleases.includes('broken') ? s : undefined;
    });
    expect(back.pid).not.toBe(before.pid);
    expect(back.lastError).toContain('broken');
    expect((await app()).greeting).toBe('second config');
    await new Promise((r) => setTimeout(r, 2_000));
    const tries = agent.lines.filter((l) => l.msg === 'applying release' && l.release === 'broken');
    expect(tries).toHaveLength(1);
  });

  it('a new roll of the failed release counts as a change and is tried again', async () => {
    expect((await herd('roll', '--role', 'web', '--release', 'broken')).code).toBe(0);
    await waitUntil('a second try', async () => agent.lines.filter((l) => l.msg === 'applying release' && l.release === 'broken').length === 2 || undefined);
    await waitRunning('v2-config2');
  });

  it('goes back when a new release crash-loops after passing its gate', async () => {
    await publishAndRoll('crashy', await crashingApp(ws.dir, 800));
    const back = await waitUntil('back after the crash loop', async () => {
      const s = await status();
      return s.release === 'v2-config2' && s.healthy && s.failedReleases.includes('crashy') ? s : undefined;
    }, 60_000);
    expect(back.lastError).toContain('crashy');
    expect(agent.lines.some((l) => l.msg === 'release crash-loops; going back to the release that ran before')).toBe(true);
  });

  it('keeps only keepReleases releases plus the protected ones on disk', async () => {
    const { readdir } = await import('node:fs/promises');
    const releases = (await readdir(join(ws.dir, 'data', 'releases'))).filter((n) => !n.startsWith('.'));
    expect(releases).toContain('v2-config2');
    expect(releases.length).toBeLessThanOrEqual(3);
    expect(releases).not.toContain('v1');
  });
});

describe('config-only reloads in a row', () => {
  it('never remove the release the app process was started from', async () => {
    // The app keeps running in the code directory it was started in; retention used to keep only
    // the current, previous and last-known-good releases, so a second reload deleted it.
    const { readlink } = await import('node:fs/promises');
    const ws = await workspace();
    const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...ws.storeFlags, ...args.slice(1)]);
    const [healthPort, appPort] = [await freePort(), await freePort()];
    const status = async () => JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body);
    const code = await codeVariant(ws.dir, 'reloadable');
    const configFile = join(ws.dir, 'agent.json');
    await writeFile(configFile, JSON.stringify({
      sources: [{ bucket: ws.bucket, endpoint: ws.s3.endpoint }], dataDir: join(ws.dir, 'data'),
      healthPort, healthHost: '127.0.0.1', appPort, appUser: null, pollIntervalS: 0.5, drainS: 0.2, keepReleases: 1,
      identity: { provider: 'static', instanceId: 'i-reloads', role: 'web', az: 'z1', region: 'r1' },
    }));
    const agent = startAgent(configFile, cleanEnv(S3_ENV));
    try {
      for (const [i, greeting] of ['one', 'two', 'three', 'four'].entries()) {
        expect((await herd('publish', '--role', 'web', '--code', code, '--config', await configVariant(ws.dir, greeting), '--release', `c${i}`)).code).toBe(0);
        expect((await herd('roll', '--role', 'web', '--release', `c${i}`)).code).toBe(0);
        await waitUntil(`running c${i}`, async () => { const s = await status(); return s.release === `c${i}` && s.healthy || undefined; }, 30_000);
      }
      const s = await status();
      expect(agent.lines.filter((l) => l.msg === 'app started')).toHaveLength(1);
      expect(await readlink(`/proc/${s.pid}/cwd`)).toBe(join(ws.dir, 'data', 'releases', 'c0', 'code'));
      expect(JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body).greeting).toBe('four');
    } finally {
      await agent.stop();
      await ws.close();
    }
  });
});
