// The agent's own config file is watched: a valid change is applied by building the parts
// anew, an invalid one is refused while the app keeps serving. And an app that keeps dying
// with nothing to go back to shows as a crash loop instead of spinning.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HELLO_APP, S3_ENV, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace, type Workspace,
} from '../helpers/harness.ts';
import { codeVariant, crashingApp } from '../helpers/releases.ts';

describe('agent config and crash loops', () => {
  let ws: Workspace;
  const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...ws.storeFlags, ...args.slice(1)]);
  const agentConfig = async (file: string, over: Record<string, unknown>) => {
    await writeFile(file, JSON.stringify({
      sources: [{ bucket: ws.bucket, endpoint: ws.s3.endpoint }], healthHost: '127.0.0.1', appUser: null, pollIntervalS: 0.5, drainS: 0.2, ...over,
    }));
  };
  beforeAll(async () => { ws = await workspace(); });
  afterAll(async () => { await ws?.close(); });

  it('applies a changed config file and refuses an invalid one, the app serving throughout', async () => {
    expect((await herd('publish', '--role', 'cfg', '--code', HELLO_APP, '--release', 'c1')).code).toBe(0);
    expect((await herd('roll', '--role', 'cfg', '--release', 'c1')).code).toBe(0);
    const [port1, port2, appPort] = [await freePort(), await freePort(), await freePort()];
    const file = join(ws.dir, 'cfg-agent.json');
    const base = { dataDir: join(ws.dir, 'cfg-data'), appPort, identity: { provider: 'static', instanceId: 'i-cfg', role: 'cfg' } };
    await agentConfig(file, { ...base, healthPort: port1 });
    const agent = startAgent(file, cleanEnv(S3_ENV));
    try {
      await waitUntil('healthy', async () => (await get(`http://127.0.0.1:${port1}/healthz`)).status === 200);
      const pid = JSON.parse((await get(`http://127.0.0.1:${port1}/status`)).body).pid;

      await agentConfig(file, { ...base, healthPort: port2 });
      await waitUntil('health on the new port', async () => (await get(`http://127.0.0.1:${port2}/healthz`)).status === 200);
      await expect(get(`http://127.0.0.1:${port1}/healthz`)).rejects.toThrow();
      expect(JSON.parse((await get(`http://127.0.0.1:${port2}/status`)).body).pid).toBe(pid);
      // logLevel applies at once (it used to need a restart).
      expect(agent.lines.some((l) => l.level === 20)).toBe(false);
      await agentConfig(file, { ...base, healthPort: port2, logLevel: 'debug' });
      await waitUntil('debug lines', async () => agent.lines.some((l) => l.level === 20) || undefined);

      if (process.getuid?.() === 0) {
        // As root the app runs as appUser; a new one that does not exist leaves the app running as it was.
        await agentConfig(file, { ...base, healthPort: port2, appPort: await freePort(), appUser: 'no-such-user-herd' });
        await waitUntil('the refusal logged', async () => agent.lines.some((l) => l.msg === 'the changed config cannot be applied; the app keeps running as before') || undefined);
        expect((await get(`http://127.0.0.1:${port2}/healthz`)).status).toBe(200);
        expect(JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body).pid).toBe(pid);
      }

      await writeFile(file, '{ "sources": [ ');
      await waitUntil('the refusal logged', async () => agent.lines.some((l) => l.msg === 'the changed config file is invalid; keeping the running config') || undefined);
      expect((await get(`http://127.0.0.1:${port2}/healthz`)).status).toBe(200);
      expect(JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body).pid).toBe(pid);
    } finally {
      expect(await agent.stop()).toBe(0);
    }
  });

  it.skipIf(process.getuid?.() !== 0)('a change whose parts cannot be built leaves the old set whole, and saving it again tries again', async () => {
    // As root: an unknown appUser makes the new runner impossible to build. The old agent had
    // already moved its health server and sources by then, and took the refused file as
    // applied, so saving it again (after creating the user, say) did nothing.
    expect((await herd('publish', '--role', 'half', '--code', HELLO_APP, '--release', 'h1')).code).toBe(0);
    expect((await herd('roll', '--role', 'half', '--release', 'h1')).code).toBe(0);
    const [port1, port2, appPort] = [await freePort(), await freePort(), await freePort()];
    const file = join(ws.dir, 'half-agent.json');
    const base = { dataDir: join(ws.dir, 'half-data'), appPort, identity: { provider: 'static', instanceId: 'i-half', role: 'half' } };
    await agentConfig(file, { ...base, healthPort: port1 });
    const agent = startAgent(file, cleanEnv(S3_ENV));
    const refusals = () => agent.lines.filter((l) => l.msg === 'the changed config cannot be applied; the app keeps running as before').length;
    try {
      await waitUntil('healthy', async () => (await get(`http://127.0.0.1:${port1}/healthz`)).status === 200);
      const before = JSON.parse((await get(`http://127.0.0.1:${port1}/status`)).body);
      const mirror = { bucket: ws.bucket, endpoint: ws.s3.endpoint, prefix: 'other' };
      const refused = { ...base, healthPort: port2, appUser: 'no-such-user-herd', sources: [{ bucket: ws.bucket, endpoint: ws.s3.endpoint }, mirror] };
      await agentConfig(file, refused);
      await waitUntil('the refusal logged', async () => refusals() === 1 || undefined);
      const after = JSON.parse((await get(`http://127.0.0.1:${port1}/status`)).body);
      expect(after.sources).toEqual(before.sources);
      expect(after.pid).toBe(before.pid);
      expect(after.lastError).toContain('no-such-user-herd');
      await expect(get(`http://127.0.0.1:${port2}/healthz`)).rejects.toThrow();

      await agentConfig(file, refused); // the same file saved again: tried (and refused) again
      await waitUntil('the second refusal logged', async () => refusals() === 2 || undefined);
      await agentConfig(file, { ...refused, appUser: null });
      await waitUntil('health on the new port', async () => (await get(`http://127.0.0.1:${port2}/healthz`)).status === 200, 20_000);
      const applied = JSON.parse((await get(`http://127.0.0.1:${port2}/status`)).body);
      expect(applied.sources).toHaveLength(2);
      expect(applied.lastError).toBeNull();
      await expect(get(`http://127.0.0.1:${port1}/healthz`)).rejects.toThrow();
    } finally {
      expect(await agent.stop()).toBe(0);
    }
  });

  it('a release failing its gate at boot shows as failed, runs nothing, is not retried, and the next roll runs', async () => {
    // Exits at once, never listening: it fails its gate however loaded the machine is (an app
    // dying 200 ms after start sometimes passed the gate first, then crash-looped instead).
    const dud = await codeVariant(ws.dir, 'dud', (spec) => ({ ...spec, command: ['node', '-e', 'console.error("cannot start"); process.exit(1)'] }));
    expect((await herd('publish', '--role', 'dud', '--code', dud, '--release', 'd1')).code).toBe(0);
    expect((await herd('roll', '--role', 'dud', '--release', 'd1')).code).toBe(0);
    const [healthPort, appPort] = [await freePort(), await freePort()];
    const file = join(ws.dir, 'dud-agent.json');
    await agentConfig(file, { dataDir: join(ws.dir, 'dud-data'), healthPort, appPort, identity: { provider: 'static', instanceId: 'i-dud', role: 'dud' } });
    const agent = startAgent(file, cleanEnv(S3_ENV));
    try {
      const status = await waitUntil('failed state', async () => {
        const s = JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body);
        return s.state === 'failed' ? s : undefined;
      });
      expect(status).toMatchObject({ release: null, desired: 'd1', healthy: false, failedReleases: ['d1'] });
      await new Promise((r) => setTimeout(r, 2_000));
      expect(agent.lines.filter((l) => l.msg === 'applying release' && l.release === 'd1')).toHaveLength(1);
      expect((await herd('publish', '--role', 'dud', '--code', HELLO_APP, '--release', 'd2')).code).toBe(0);
      expect((await herd('roll', '--role', 'dud', '--release', 'd2')).code).toBe(0);
      await waitUntil('d2 running', async () => (await get(`http://127.0.0.1:${healthPort}/healthz`)).status === 200);
      expect(JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body).release).toBe('d2');
    } finally {
      expect(await agent.stop()).toBe(0);
    }
  });

  it('an app that keeps dying with nothing to go back to shows as a crash loop', async () => {
    expect((await herd('publish', '--role', 'crash', '--code', await crashingApp(ws.dir, 1_500), '--release', 'k1')).code).toBe(0);
    expect((await herd('roll', '--role', 'crash', '--release', 'k1')).code).toBe(0);
    const [healthPort, appPort] = [await freePort(), await freePort()];
    const file = join(ws.dir, 'crash-agent.json');
    await agentConfig(file, { dataDir: join(ws.dir, 'crash-data'), healthPort, appPort, identity: { provider: 'static', instanceId: 'i-crash', role: 'crash' } });
    const agent = startAgent(file, cleanEnv(S3_ENV));
    try {
      const status = await waitUntil('crash-loop state', async () => {
        const s = JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body);
        return s.state === 'crash-loop' ? s : undefined;
      }, 45_000);
      expect(status.restarts).toBeGreaterThanOrEqual(3);
      expect(status.lastError).toContain('exited on its own');
      expect((await get(`http://127.0.0.1:${healthPort}/healthz`)).status).toBe(503);
      const store = ws.store();
      await waitUntil('crash-loop in the report', async () => (await store.listReports('crash')).some((r) => 'state' in r && r.state === 'crash-loop') || undefined);
      // Backoff, not spinning: a few restarts in several seconds, not hundreds.
      const restartsLater = await new Promise<number>((r) => setTimeout(async () => r(JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body).restarts), 3_000));
      expect(restartsLater - status.restarts).toBeLessThanOrEqual(2);
    } finally {
      expect(await agent.stop()).toBe(0);
    }
  });
});
