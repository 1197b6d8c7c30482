// publish → roll → an agent that learns who it is from IMDSv2 (instance-profile
// credentials, no keys in its environment), fetches from a real S3 server, runs the real
// sample app and reports — all as real processes.
import { readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_S3_CREDENTIALS } from '../../support/local-s3.ts';
import { ObjectStore } from '../../agent/store/object-store.ts';
import { startImdsServer, type ImdsServer } from '../fixtures/imds-server.ts';
import {
  HELLO_APP, HELLO_CONFIG, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace,
  type AgentProcess, type Workspace,
} from '../helpers/harness.ts';

describe('an instance boots from S3', () => {
  let ws: Workspace;
  let imds: ImdsServer;
  let agent: AgentProcess;
  let healthPort: number;
  let appPort: number;
  let dataDir: string;
  let store: ObjectStore;

  beforeAll(async () => {
    ws = await workspace();
    imds = await startImdsServer({
      instanceId: 'i-0boot1234', region: 'eu-west-1', az: 'eu-west-1b', tags: { 'herd:role': 'web', Name: 'web-1' },
      credentials: LOCAL_S3_CREDENTIALS, roleName: 'herd-instance',
    });
    store = ws.store();

    const published = await runHerd(['publish', ...ws.storeFlags, '--role', 'web', '--code', HELLO_APP, '--config', HELLO_CONFIG, '--release', 'v1', '--json']);
    expect(published.stderr).toBe('');
    expect(published.code).toBe(0);
    expect(JSON.parse(published.stdout)).toMatchObject({ release: 'v1', role: 'web', existed: false });
    const rolled = await runHerd(['roll', ...ws.storeFlags, '--role', 'web', '--release', 'v1']);
    expect(rolled.code).toBe(0);
    expect(rolled.stdout).toContain('(none) -> v1');

    [healthPort, appPort] = [await freePort(), await freePort()];
    dataDir = join(ws.dir, 'data');
    const configFile = join(ws.dir, 'agent.json');
    await writeFile(configFile, JSON.stringify({
      sources: [{ bucket: ws.bucket, endpoint: ws.s3.endpoint, region: 'eu-west-1' }],
      dataDir, healthPort, healthHost: '127.0.0.1', appPort, appUser: null,
    }));
    // No AWS keys: the SDK's default chain must get them from the instance profile via IMDSv2.
    agent = startAgent(configFile, cleanEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url }));
    await waitUntil('/healthz 200', async () => (await get(`http://127.0.0.1:${healthPort}/healthz`)).status === 200, 45_000);
  });

  afterAll(async () => {
    await agent?.stop();
    await imds?.close();
    await ws?.close();
  });

  it('serves the release with its config and identity', async () => {
    const answer = JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body);
    expect(answer).toMatchObject({
      release: 'v1', role: 'web', instance: 'i-0boot1234', az: 'eu-west-1b', greeting: 'hello from the config bundle',
    });
  });

  it('used IMDSv2 only, with one token reused', () => {
    expect(imds.requests.length).toBeGreaterThan(3);
    expect(imds.requests.filter((r) => r.method === 'GET' && !r.hadToken)).toEqual([]);
    expect(imds.requests.some((r) => r.path.includes('iam/security-credentials'))).toBe(true);
    expect(imds.requests.some((r) => r.path.includes('tags/instance/herd%3Arole') || r.path.includes('tags/instance/herd:role'))).toBe(true);
  });

  it('lays the data directory out as SPEC says', async () => {
    expect(await readlink(join(dataDir, 'current'))).toBe('releases/v1');
    const state = JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8'));
    expect(state).toMatchObject({ lastKnownGood: 'v1', failed: {} });
    const manifest = JSON.parse(await readFile(join(dataDir, 'releases/v1/manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ schema: 'herd/release@1', id: 'v1', role: 'web' });
    expect(await readFile(join(dataDir, 'releases/v1/config/app.json'), 'utf8')).toContain('hello from the config bundle');
    const blob = manifest.code.digest.slice('sha256:'.length);
    expect((await readFile(join(dataDir, 'blobs', blob))).length).toBe(manifest.code.size);
  });

  it('answers /status and /metrics', async () => {
    const status = JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body);
    expect(status).toMatchObject({
      identity: { instanceId: 'i-0boot1234', role: 'web', az: 'eu-west-1b', region: 'eu-west-1' },
      state: 'running', healthy: true, release: 'v1', desired: 'v1', lastError: null,
    });
    const metrics = (await get(`http://127.0.0.1:${healthPort}/metrics`)).body;
    expect(metrics).toMatch(/^herd_app_healthy 1$/m);
    expect(metrics).toMatch(/herd_release_info\{release="v1"\} 1/);
    expect(metrics).toMatch(/^process_resident_memory_bytes \d+$/m);
    expect(metrics).toMatch(/^process_cpu_seconds_total [\d.e-]+$/m);
    expect(metrics).toMatch(/^nodejs_heap_size_used_bytes \d+$/m);
  });

  it('runs itself in V8\'s lite mode, as the same process systemd started', async () => {
    const cmdline = (await readFile(`/proc/${agent.child.pid}/cmdline`, 'utf8')).split('\0');
    expect(cmdline).toContain('--lite-mode');
    // With V8's gc(), for compacting its heap while idle (heap-compaction.ts).
    expect(cmdline).toContain('--expose-gc');
    expect(cmdline.slice(-4, -1)).toEqual(['agent', '--config', expect.stringMatching(/agent\.json$/)]);
    // The bundle it fetched was installed by a child of its own, now gone; the log says so.
    expect(agent.lines.some((l) => l.msg === 'bundle verified and extracted' && l.pid !== agent.child.pid && l.release === 'v1')).toBe(true);
  });

  it('writes its report to the store', async () => {
    const reports = await waitUntil('a running report', async () => {
      const all = await store.listReports('web');
      return all.some((r) => 'state' in r && r.state === 'running') ? all : undefined;
    });
    expect(reports).toEqual([expect.objectContaining({
      schema: 'herd/instance@1', instanceId: 'i-0boot1234', role: 'web', az: 'eu-west-1b', region: 'eu-west-1',
      release: 'v1', desired: 'v1', state: 'running', healthy: true,
    })]);
  });

  it('logs the app\'s output as structured lines and never a credential', () => {
    const appLines = agent.lines.filter((l) => l.module === 'app');
    expect(appLines.some((l) => String(l.msg).includes('hello-app v1 listening'))).toBe(true);
    const all = JSON.stringify(agent.lines);
    expect(all).not.toContain(LOCAL_S3_CREDENTIALS.secretAccessKey);
    expect(all).not.toContain(imds.lastToken() ?? 'no-token-issued');
  });

  it('stops the app gracefully on SIGTERM and exits 0', async () => {
    const code = await agent.stop();
    expect(code).toBe(0);
    expect(agent.lines.some((l) => l.module === 'app' && String(l.msg).includes('SIGTERM: closing'))).toBe(true);
    await expect(get(`http://127.0.0.1:${appPort}/`)).rejects.toThrow();
    const reports = await store.listReports('web');
    expect(reports[0]).toMatchObject({ state: 'stopped', healthy: false });
  });
});
