// A bundle large enough for a multipart upload survives the round trip byte for byte, and an
// agent that boots before its role has a channel waits and then runs what gets rolled.
import { createHash, randomBytes } from 'node:crypto';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HELLO_APP, S3_ENV, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace, type Workspace,
} from '../helpers/harness.ts';

describe('large bundles and late channels', () => {
  let ws: Workspace;
  beforeAll(async () => { ws = await workspace(); });
  afterAll(async () => { await ws?.close(); });

  it('publishes a 40 MiB incompressible bundle in parts and pulls it back identical', async () => {
    const app = join(ws.dir, 'big-app');
    await cp(HELLO_APP, app, { recursive: true });
    const payload = randomBytes(40 * 1024 * 1024);
    await writeFile(join(app, 'payload.bin'), payload);
    const published = await runHerd(['publish', ...ws.storeFlags, '--role', 'big', '--code', app, '--release', 'b1', '--json']);
    expect(published.stderr).toBe('');
    expect(JSON.parse(published.stdout).uploadedBytes).toBeGreaterThan(40 * 1024 * 1024);
    const dataDir = join(ws.dir, 'big-data');
    const pulled = await runHerd(['pull', ...ws.storeFlags, '--role', 'big', '--release', 'b1', '--data-dir', dataDir]);
    expect(pulled.code).toBe(0);
    const back = await readFile(join(dataDir, 'releases/b1/code/payload.bin'));
    expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'));
  });

  it('an agent booted before any roll waits, then runs the release once rolled', async () => {
    const [healthPort, appPort] = [await freePort(), await freePort()];
    const configFile = join(ws.dir, 'late-agent.json');
    await writeFile(configFile, JSON.stringify({
      sources: [{ bucket: ws.bucket, endpoint: ws.s3.endpoint }], dataDir: join(ws.dir, 'late-data'),
      healthPort, healthHost: '127.0.0.1', appPort, appUser: null, pollIntervalS: 1,
      identity: { provider: 'static', instanceId: 'i-late', role: 'late', az: 'z1', region: 'r1' },
    }));
    const agent = startAgent(configFile, cleanEnv(S3_ENV));
    try {
      const status = await waitUntil('status with an error', async () => {
        const s = JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body);
        return s.lastError ? s : undefined;
      });
      expect(status).toMatchObject({ healthy: false, release: null });
      expect(status.lastError).toContain('no channel for role late');
      expect((await get(`http://127.0.0.1:${healthPort}/healthz`)).status).toBe(503);

      expect((await runHerd(['publish', ...ws.storeFlags, '--role', 'late', '--code', HELLO_APP, '--release', 'l1'])).code).toBe(0);
      expect((await runHerd(['roll', ...ws.storeFlags, '--role', 'late', '--release', 'l1'])).code).toBe(0);
      await waitUntil('healthy', async () => (await get(`http://127.0.0.1:${healthPort}/healthz`)).status === 200, 30_000);
      expect(JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body)).toMatchObject({ release: 'l1', instance: 'i-late' });
    } finally {
      expect(await agent.stop()).toBe(0);
    }
  });
});
