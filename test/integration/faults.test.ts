// The store, the metadata service or the network failing never stops a serving app
// (SPEC "Bad input and faults"): a real agent behind a fault proxy keeps its app serving
// through each outage, says what is wrong in /status, and converges to the channel's
// release once the fault clears. Replicas take over from a primary that is down, and an
// agent with every source down boots its last-known-good release from disk.
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3 } from '../../support/local-s3.ts';
import { startFaultProxy, type Fault, type FaultProxy } from '../fixtures/fault-proxy.ts';
import { startImdsServer, type ImdsServer } from '../fixtures/imds-server.ts';
import {
  HELLO_APP, HELLO_CONFIG, S3_ENV, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace,
  type AgentProcess, type Workspace,
} from '../helpers/harness.ts';
import { codeVariant } from '../helpers/releases.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Ports { healthPort: number; appPort: number }

/** Writes an agent config for `sources`, with short polls and drains, and returns its path. */
async function agentConfig(dir: string, name: string, ports: Ports, over: Record<string, unknown>): Promise<string> {
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify({
    dataDir: join(dir, `${name}-data`), healthHost: '127.0.0.1', appUser: null, pollIntervalS: 0.5, drainS: 0.5, keepReleases: 3,
    identity: { provider: 'static', instanceId: `i-${name}`, role: 'web', az: 'z1', region: 'r1' },
    ...ports, ...over,
  }));
  return file;
}

/** Every agent started here, so each is stopped even when a test failed before stopping its own. */
const launched: AgentProcess[] = [];
function launch(configFile: string, env: Record<string, string>): AgentProcess {
  const agent = startAgent(configFile, env);
  launched.push(agent);
  return agent;
}
const stopAll = () => Promise.all(launched.splice(0).map((a) => a.stop()));

const status = async (p: Ports) => JSON.parse((await get(`http://127.0.0.1:${p.healthPort}/status`)).body);
const waitRunning = (p: Ports, release: string, timeoutMs = 30_000) => waitUntil(`running ${release}`, async () => {
  const s = await status(p);
  return s.release === release && s.healthy && s.state === 'running' ? s : undefined;
}, timeoutMs);

/**
 * Traffic as a load balancer sends it: a request to the app only while /healthz says 200.
 * Every /healthz answer is kept with its time, so a test can check a window.
 */
function startTraffic(p: Ports) {
  const stats = { ok: 0, failed: 0, errors: [] as string[], health: [] as Array<{ at: number; status: number }>, releases: new Set<string>() };
  let running = true;
  const loop = (async () => {
    while (running) {
      const health = await get(`http://127.0.0.1:${p.healthPort}/healthz`).catch(() => ({ status: 0, body: '' }));
      stats.health.push({ at: Date.now(), status: health.status });
      if (health.status === 200) {
        try {
          const res = await get(`http://127.0.0.1:${p.appPort}/`);
          if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
          stats.ok += 1;
          stats.releases.add(JSON.parse(res.body).release);
        } catch (err) {
          stats.failed += 1;
          stats.errors.push((err as Error).message);
        }
      }
      await sleep(40);
    }
  })();
  return {
    stats,
    healthBetween: (from: number, to: number) => stats.health.filter((h) => h.at >= from && h.at <= to).map((h) => h.status),
    async stop() { running = false; await loop; },
  };
}

async function leftovers(dataDir: string): Promise<string[]> {
  const staging = (await readdir(join(dataDir, 'releases'))).filter((n) => n.startsWith('.'));
  const parts = (await readdir(join(dataDir, 'blobs'))).filter((n) => !/^[0-9a-f]{64}$/.test(n));
  return [...staging, ...parts];
}

describe('the store failing under a serving agent', () => {
  let ws: Workspace;
  let proxy: FaultProxy;
  let agent: AgentProcess;
  let traffic: ReturnType<typeof startTraffic>;
  let ports: Ports;
  let dataDir: string;
  const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...ws.storeFlags, ...args.slice(1)]);
  const rolls = ['v2', 'v3', 'v4', 'v5', 'v6'];

  beforeAll(async () => {
    ws = await workspace();
    proxy = await startFaultProxy({ upstream: ws.s3.endpoint });
    const variants = await Promise.all(rolls.map((id) => codeVariant(ws.dir, id)));
    // v1 first: it uploads the config bundle the others share, which they then find in place.
    const published = [await herd('publish', '--role', 'web', '--code', HELLO_APP, '--config', HELLO_CONFIG, '--release', 'v1')];
    published.push(...await Promise.all(rolls.map((id, i) => herd('publish', '--role', 'web', '--code', variants[i] as string, '--config', HELLO_CONFIG, '--release', id))));
    for (const p of published) expect(p.code, p.stderr).toBe(0);
    expect((await herd('roll', '--role', 'web', '--release', 'v1')).code).toBe(0);
    ports = { healthPort: await freePort(), appPort: await freePort() };
    dataDir = join(ws.dir, 'store-faults-data');
    const file = await agentConfig(ws.dir, 'store-faults', ports, { sources: [{ bucket: ws.bucket, endpoint: proxy.url }] });
    agent = launch(file, cleanEnv(S3_ENV));
    await waitRunning(ports, 'v1', 45_000);
    traffic = startTraffic(ports);
  });

  afterAll(async () => {
    await traffic?.stop();
    await stopAll();
    if (process.env.HERD_TEST_DUMP) await writeFile(process.env.HERD_TEST_DUMP, agent.lines.map((l) => JSON.stringify(l)).join('\n'));
    await proxy?.close();
    await ws?.close();
  });

  // What /status lastError must say while the store is faulty (a hang: once the store's deadline has passed).
  const idleFaults: Array<[string, Fault, RegExp | null]> = [
    ['down (connection refused)', { mode: 'down' }, /ECONNREFUSED/],
    ['answering 500', { mode: 'error500' }, /HTTP 500|InternalError/],
    ['cutting answers short', { mode: 'cut' }, /socket hang up|ECONNRESET|aborted|premature/i],
    ['hanging', { mode: 'hang' }, null],
  ];

  it.each(idleFaults)('idle, the store %s: the app serves, /healthz stays 200, /status says why, and polling recovers', async (_name, fault, says) => {
    const from = Date.now();
    const failedBefore = traffic.stats.failed;
    await proxy.set(fault);
    if (says) {
      const s = await waitUntil('the fault in /status', async () => {
        const st = await status(ports);
        return st.lastError && says.test(st.lastError) ? st : undefined;
      });
      expect(s.lastError).toContain('channel.json');
      expect(s).toMatchObject({ release: 'v1', healthy: true, state: 'running' });
    } else {
      await waitUntil('a request held', async () => proxy.count({ fault: 'hang' }) > 0 || undefined);
      await sleep(3_000); // several poll intervals: the agent waits on its one request, piles up none
      expect(proxy.count({ fault: 'hang', path: 'channel.json' })).toBe(1);
      expect(await status(ports)).toMatchObject({ release: 'v1', healthy: true, state: 'running' });
      // A store that accepts and never answers is a store that is down: it must say so, not wait forever.
      const s = await waitUntil('the hang in /status', async () => {
        const st = await status(ports);
        return st.lastError?.includes('channel.json') && /no answer within/.test(st.lastError) ? st : undefined;
      }, 25_000);
      expect(s).toMatchObject({ release: 'v1', healthy: true, state: 'running' });
    }
    // Hold the fault a while however fast the agent noticed it: the window must hold
    // several load-balancer checks for "it served throughout" to mean something.
    await sleep(Math.max(0, from + 2_000 - Date.now()));
    const to = Date.now();
    await proxy.set({ mode: 'pass' });
    const cleared = proxy.requests.length;
    await waitUntil('a good poll after the fault', async () => proxy.requests.slice(cleared).some((r) => r.path.includes('channel.json') && (r.status === 200 || r.status === 304)) || undefined);
    expect(traffic.healthBetween(from, to).every((h) => h === 200)).toBe(true);
    expect(traffic.healthBetween(from, to).length).toBeGreaterThan(3);
    expect(traffic.stats.failed - failedBefore).toBe(0);
    expect(await status(ports)).toMatchObject({ release: 'v1', healthy: true, state: 'running' });
    // Nothing is wrong any more: /status (and the report `herd status` shows) must not keep saying so.
    await waitUntil('lastError cleared after a good poll', async () => (await status(ports)).lastError === null || undefined, 5_000);
  });

  // The channel moves on while the store then fails the download: the old release serves on.
  const rollFaults: Array<[string, Fault, RegExp | null]> = [
    ['down (connections reset)', { mode: 'down', only: '/blobs/' }, /ECONNRESET|socket hang up/i],
    ['answering 500', { mode: 'error500', only: '/blobs/' }, /HTTP 500|InternalError/],
    ['cutting the bundle short', { mode: 'cut', only: '/blobs/' }, /aborted|ECONNRESET|premature|expected \d+ bytes/i],
    ['stalling halfway through the bundle', { mode: 'stall', only: '/blobs/' }, /timed out after \d+ ms of inactivity/],
    ['hanging before answering', { mode: 'hang', only: '/blobs/' }, null],
  ];

  it.each(rollFaults)('while a roll is applied, the store %s: the old release serves until the fault clears, then the new one runs', async (_name, fault, says) => {
    const target = rolls[rollFaults.findIndex(([n]) => n === _name)] as string;
    const before = await status(ports);
    const from = Date.now();
    const failedBefore = traffic.stats.failed;
    await proxy.set(fault);
    expect((await herd('roll', '--role', 'web', '--release', target)).code).toBe(0);
    if (says) {
      const s = await waitUntil('the failed fetch in /status', async () => {
        const st = await status(ports);
        return st.desired === target && st.lastError?.includes(`release ${target}`) && says.test(st.lastError) ? st : undefined;
      });
      expect(s).toMatchObject({ release: before.release, desired: target, healthy: true });
      // Which release, which bundle, from where: an operator can act on it.
      expect(s.lastError).toContain(`release ${target}`);
      expect(s.lastError).toMatch(/sha256:[0-9a-f]{64}/);
      expect(s.lastError).toContain(proxy.url);
    } else {
      await waitUntil('the bundle download held', async () => proxy.count({ fault: 'hang', path: '/blobs/' }) > 0 || undefined);
      await sleep(2_000);
      expect(await status(ports)).toMatchObject({ release: before.release, desired: target, healthy: true });
    }
    expect((await readdir(join(dataDir, 'releases'))).filter((n) => n === target)).toEqual([]);
    expect(JSON.parse((await get(`http://127.0.0.1:${ports.appPort}/`)).body).release).toBe(before.release);
    const to = Date.now();
    await proxy.set({ mode: 'pass' });
    await waitRunning(ports, target);
    expect(traffic.healthBetween(from, to).every((h) => h === 200)).toBe(true);
    expect(traffic.stats.failed - failedBefore).toBe(0);
    expect(await leftovers(dataDir)).toEqual([]);
    expect(JSON.parse((await get(`http://127.0.0.1:${ports.appPort}/`)).body).release).toBe(target);
    expect((await status(ports)).lastError).toBeNull();
  });

  it('served every request the load balancer sent through all of it', async () => {
    await waitUntil('traffic served by the last release', async () => traffic.stats.releases.has('v6') || undefined);
    expect(traffic.stats.errors).toEqual([]);
    expect(traffic.stats.ok).toBeGreaterThan(50);
    expect([...traffic.stats.releases].sort()).toEqual(['v1', ...rolls]);
  });
});

describe('the metadata service going away', () => {
  let ws: Workspace;
  let imds: ImdsServer;
  let agent: AgentProcess | undefined;
  let traffic: ReturnType<typeof startTraffic> | undefined;
  let ports: Ports;
  let configFile: string;
  const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...ws.storeFlags, ...args.slice(1)]);
  const identity = { instanceId: 'i-0imds', role: 'web', az: 'eu-west-1c', region: 'eu-west-1' };

  beforeAll(async () => {
    ws = await workspace();
    // Credentials that expire in 4 minutes: inside the 5-minute margin, so the agent refreshes them as it polls.
    imds = await startImdsServer({ ...identity, tags: { 'herd:role': 'web' }, credentials: LOCAL_S3_CREDENTIALS, credentialLifetimeS: 240 });
    const published = await Promise.all([
      herd('publish', '--role', 'web', '--code', HELLO_APP, '--release', 'm1'),
      herd('publish', '--role', 'web', '--code', await codeVariant(ws.dir, 'm2'), '--release', 'm2'),
    ]);
    for (const p of published) expect(p.code, p.stderr).toBe(0);
    expect((await herd('roll', '--role', 'web', '--release', 'm1')).code).toBe(0);
    ports = { healthPort: await freePort(), appPort: await freePort() };
    configFile = await agentConfig(ws.dir, 'imds', ports, {
      sources: [{ bucket: ws.bucket, endpoint: ws.s3.endpoint, region: 'eu-west-1' }], identity: { provider: 'imds' },
    });
  });

  afterAll(async () => {
    await traffic?.stop();
    await stopAll();
    await imds?.close().catch(() => {});
    await ws?.close();
  });

  it('stops after boot: nothing changes for the app, and a roll is still applied (credentials and identity kept)', async () => {
    // No keys in the environment: the instance profile's credentials come from IMDS too.
    agent = launch(configFile, cleanEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url }));
    await waitRunning(ports, 'm1', 45_000);
    const credentialReads = () => imds.requests.filter((r) => r.path === '/latest/meta-data/iam/security-credentials/herd-instance-role' && r.status === 200).length;
    await waitUntil('credentials refreshed ahead of expiry', async () => credentialReads() >= 2 || undefined);
    traffic = startTraffic(ports);
    await imds.close();
    const from = Date.now();
    await sleep(2_000);
    expect(traffic.healthBetween(from, Date.now()).every((h) => h === 200)).toBe(true);
    expect((await herd('roll', '--role', 'web', '--release', 'm2')).code).toBe(0);
    const s = await waitRunning(ports, 'm2');
    expect(s.identity).toMatchObject(identity);
    await waitUntil('traffic served by m2', async () => traffic?.stats.releases.has('m2') || undefined);
    await traffic.stop();
    expect(traffic.stats.errors).toEqual([]);
    expect([...traffic.stats.releases].sort()).toEqual(['m1', 'm2']);
    // Static stability: the failed refresh kept the credentials held, and said so once.
    const kept = agent.lines.filter((l) => String(l.msg).startsWith('instance-profile credentials could not be refreshed'));
    expect(kept.map((l) => l.level)).toEqual([40]);
    expect(await agent.stop()).toBe(0);
  });

  it('boots with the metadata service down, from the identity cached in its data directory', async () => {
    // The same endpoint, now closed: nothing answers there.
    agent = launch(configFile, cleanEnv({ ...S3_ENV, AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url }));
    const s = await waitRunning(ports, 'm2', 45_000);
    expect(s.identity).toMatchObject(identity);
    expect(agent.lines.some((l) => l.msg === 'metadata service unavailable; using the identity cached in the data directory')).toBe(true);
    expect(JSON.parse((await get(`http://127.0.0.1:${ports.appPort}/`)).body)).toMatchObject({ release: 'm2', instance: 'i-0imds', az: 'eu-west-1c' });
  });
});

describe('replicas and the last-known-good release', () => {
  let ws: Workspace;
  let replica: LocalS3;
  let primaryProxy: FaultProxy;
  let replicaProxy: FaultProxy;
  let agent: AgentProcess | undefined;
  let traffic: ReturnType<typeof startTraffic> | undefined;
  let ports: Ports;
  let configFile: string;
  const REPLICA_BUCKET = 'herd-replica';
  const onBoth = async (...args: string[]) => {
    for (const flags of [ws.storeFlags, ['--bucket', REPLICA_BUCKET, '--endpoint', replica.endpoint]]) {
      const r = await runHerd([...args.slice(0, 1), ...flags, ...args.slice(1)]);
      expect(r.code, r.stderr).toBe(0);
    }
  };
  const fetchedFrom = (a: AgentProcess, release: string) => a.lines.filter((l) => l.msg === 'release fetched and verified' && l.release === release).map((l) => l.source);

  beforeAll(async () => {
    ws = await workspace();
    replica = await startLocalS3({ directory: join(ws.dir, 's3-replica'), buckets: [REPLICA_BUCKET] });
    primaryProxy = await startFaultProxy({ upstream: ws.s3.endpoint });
    replicaProxy = await startFaultProxy({ upstream: replica.endpoint });
    const [r2, r3] = [await codeVariant(ws.dir, 'r2'), await codeVariant(ws.dir, 'r3')];
    await Promise.all([
      onBoth('publish', '--role', 'web', '--code', HELLO_APP, '--release', 'r1'),
      onBoth('publish', '--role', 'web', '--code', r2, '--release', 'r2'),
      onBoth('publish', '--role', 'web', '--code', r3, '--release', 'r3'),
    ]);
    await onBoth('roll', '--role', 'web', '--release', 'r1');
    ports = { healthPort: await freePort(), appPort: await freePort() };
    configFile = await agentConfig(ws.dir, 'replicas', ports, {
      sources: [{ bucket: ws.bucket, endpoint: primaryProxy.url }, { bucket: REPLICA_BUCKET, endpoint: replicaProxy.url }],
    });
  });

  afterAll(async () => {
    await traffic?.stop();
    await stopAll();
    await primaryProxy?.close();
    await replicaProxy?.close();
    await replica?.close();
    await ws?.close();
  });

  it('boots from the replica while the primary is down', async () => {
    await primaryProxy.set({ mode: 'down' });
    agent = launch(configFile, cleanEnv(S3_ENV));
    await waitRunning(ports, 'r1', 45_000);
    expect(fetchedFrom(agent, 'r1')).toEqual([expect.stringContaining(replicaProxy.url)]);
    expect(agent.lines.some((l) => l.msg === 'channel read failed; trying the next source' && String(l.source).includes(primaryProxy.url))).toBe(true);
  });

  it('the primary going down while running: a roll published to both is applied from the replica', async () => {
    const a = agent as AgentProcess;
    await primaryProxy.set({ mode: 'pass' });
    const seen = primaryProxy.count({ path: 'channel.json' });
    await waitUntil('the agent back on its primary', async () => primaryProxy.count({ path: 'channel.json' }) > seen + 1 || undefined);
    traffic = startTraffic(ports);
    await primaryProxy.set({ mode: 'down' });
    await onBoth('roll', '--role', 'web', '--release', 'r2');
    await waitRunning(ports, 'r2');
    expect(fetchedFrom(a, 'r2')).toEqual([expect.stringContaining(replicaProxy.url)]);
    await waitUntil('traffic served by r2', async () => traffic?.stats.releases.has('r2') || undefined);
    expect(traffic.stats.errors).toEqual([]);
  });

  it('the primary hanging (accepting, never answering): a roll published to both is applied from the replica', async () => {
    const a = agent as AgentProcess;
    await primaryProxy.set({ mode: 'pass' });
    const seen = primaryProxy.count({ path: 'channel.json' });
    await waitUntil('the agent back on its primary', async () => primaryProxy.count({ path: 'channel.json' }) > seen + 1 || undefined);
    await primaryProxy.set({ mode: 'hang' });
    await onBoth('roll', '--role', 'web', '--release', 'r3');
    await waitRunning(ports, 'r3', 45_000);
    expect(fetchedFrom(a, 'r3')).toEqual([expect.stringContaining(replicaProxy.url)]);
    await waitUntil('traffic served by r3', async () => traffic?.stats.releases.has('r3') || undefined);
    await (traffic as ReturnType<typeof startTraffic>).stop();
    expect(traffic?.stats.errors).toEqual([]);
    await primaryProxy.set({ mode: 'down' });
    expect(await a.stop()).toBe(0);
  });

  it('every source down at boot: the last-known-good release from the last run starts and serves', async () => {
    await replicaProxy.set({ mode: 'down' });
    const requestsBefore = replicaProxy.requests.length;
    agent = launch(configFile, cleanEnv(S3_ENV));
    await waitRunning(ports, 'r3', 45_000);
    expect(agent.lines.some((l) => l.msg === 'starting the last-known-good release from the data directory' && l.release === 'r3')).toBe(true);
    expect(JSON.parse((await get(`http://127.0.0.1:${ports.appPort}/`)).body).release).toBe('r3');
    const s = await waitUntil('the outage in /status', async () => {
      const st = await status(ports);
      return st.lastError?.includes('ECONNREFUSED') ? st : undefined;
    });
    expect(s).toMatchObject({ healthy: true, release: 'r3' });
    expect(replicaProxy.requests.length).toBe(requestsBefore);
    await Promise.all([primaryProxy.set({ mode: 'pass' }), replicaProxy.set({ mode: 'pass' })]);
    const back = await waitUntil('the channel read once the store is back', async () => {
      const st = await status(ports);
      return st.desired === 'r3' ? st : undefined;
    });
    expect(back).toMatchObject({ healthy: true, release: 'r3', state: 'running' });
    expect(await (agent as AgentProcess).stop()).toBe(0);
  });

  it('every source down at boot: a data directory baked by herd pull boots its release', async () => {
    const baked = join(ws.dir, 'baked-data');
    const pulled = await runHerd(['pull', ...ws.storeFlags, '--role', 'web', '--data-dir', baked]);
    expect(pulled.code, pulled.stderr).toBe(0);
    await Promise.all([primaryProxy.set({ mode: 'down' }), replicaProxy.set({ mode: 'down' })]);
    const bakedPorts = { healthPort: await freePort(), appPort: await freePort() };
    const file = await agentConfig(ws.dir, 'baked', bakedPorts, {
      dataDir: baked, sources: [{ bucket: ws.bucket, endpoint: primaryProxy.url }, { bucket: REPLICA_BUCKET, endpoint: replicaProxy.url }],
    });
    agent = launch(file, cleanEnv(S3_ENV));
    await waitRunning(bakedPorts, 'r3', 45_000);
    expect(JSON.parse((await get(`http://127.0.0.1:${bakedPorts.appPort}/`)).body).release).toBe('r3');
    expect(agent.lines.some((l) => l.msg === 'starting the last-known-good release from the data directory')).toBe(true);
  });
});
