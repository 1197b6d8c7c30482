// A spot interruption notice or an Auto Scaling `Terminated` lifecycle state in instance
// metadata drains the instance (/healthz 503) and stops the app gracefully before it goes.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_S3_CREDENTIALS } from '../../support/local-s3.ts';
import { startImdsServer, type ImdsServer } from '../fixtures/imds-server.ts';
import {
  HELLO_APP, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace, type Workspace,
} from '../helpers/harness.ts';
import { codeVariant } from '../helpers/releases.ts';

describe('termination notices', () => {
  let ws: Workspace;
  const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...ws.storeFlags, ...args.slice(1)]);
  beforeAll(async () => {
    ws = await workspace();
    expect((await herd('publish', '--role', 'web', '--code', HELLO_APP, '--release', 't1')).code).toBe(0);
    expect((await herd('roll', '--role', 'web', '--release', 't1')).code).toBe(0);
  });
  afterAll(async () => { await ws?.close(); });

  async function bootAgent(instanceId: string) {
    const imds = await startImdsServer({
      instanceId, region: 'us-east-1', az: 'us-east-1a', tags: { 'herd:role': 'web' }, credentials: LOCAL_S3_CREDENTIALS,
    });
    const [healthPort, appPort] = [await freePort(), await freePort()];
    const file = join(ws.dir, `${instanceId}.json`);
    await writeFile(file, JSON.stringify({
      sources: [{ bucket: ws.bucket, endpoint: ws.s3.endpoint }], dataDir: join(ws.dir, instanceId),
      healthPort, healthHost: '127.0.0.1', appPort, appUser: null, pollIntervalS: 0.5, drainS: 1, noticePollS: 0.2,
    }));
    const agent = startAgent(file, cleanEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url }));
    await waitUntil('healthy', async () => (await get(`http://127.0.0.1:${healthPort}/healthz`)).status === 200, 45_000);
    return { imds, agent, healthPort, appPort };
  }

  it.each([
    ['a spot interruption', 'meta-data/spot/instance-action', JSON.stringify({ action: 'terminate', time: '2026-11-22T14:02:00Z' }), 'spot interruption notice (terminate at 2026-11-22T14:02:00Z)'],
    ['an Auto Scaling Terminated state', 'meta-data/autoscaling/target-lifecycle-state', 'Terminated', 'Auto Scaling lifecycle state Terminated'],
  ])('%s drains, then stops the app gracefully; the agent stays up', async (_name, path, value, reason) => {
    const { imds, agent, healthPort, appPort } = await bootAgent(`i-term-${path.length}`);
    try {
      imds.set(path, value);
      await waitUntil('503 while draining', async () => (await get(`http://127.0.0.1:${healthPort}/healthz`)).status === 503);
      // During the drain the app still answers: requests in flight are not cut off.
      expect(JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body).release).toBe('t1');
      const status = await waitUntil('stopped', async () => {
        const s = JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body);
        return s.state === 'stopped' ? s : undefined;
      });
      expect(status).toMatchObject({ termination: reason, healthy: false, release: null });
      expect(agent.lines.some((l) => l.module === 'app' && String(l.msg).includes('SIGTERM: closing'))).toBe(true);
      await expect(get(`http://127.0.0.1:${appPort}/`)).rejects.toThrow();
      // Going away: a new roll is not applied any more.
      expect((await herd('publish', '--role', 'web', '--code', await codeVariant(ws.dir, `t2-${path.length}`), '--release', `t2-${path.length}`)).code).toBe(0);
      expect((await herd('roll', '--role', 'web', '--release', `t2-${path.length}`)).code).toBe(0);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(agent.lines.some((l) => l.msg === 'applying release' && l.release === `t2-${path.length}`)).toBe(false);
      expect(agent.child.exitCode).toBeNull();
    } finally {
      expect(await agent.stop()).toBe(0);
      await imds.close();
      expect((await herd('roll', '--role', 'web', '--release', 't1')).code).toBe(0);
    }
  });
});
