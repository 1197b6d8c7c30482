// An agent whose first source is an S3 Express One Zone directory bucket (the scale design,
// docs/scale.md): a stand-in that answers CreateSession with short sessions and refuses any
// object request not signed with a live one (test/fixtures/directory-bucket-server.ts). The
// agent boots from it, polls it with 304s, follows a roll, writes its report there, renews its
// session ahead of expiry, and gets a fresh one when a session is refused as expired.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_S3_CREDENTIALS } from '../../support/local-s3.ts';
import { startDirectoryBucket, type DirectoryBucketServer } from '../fixtures/directory-bucket-server.ts';
import { startImdsServer, type ImdsServer } from '../fixtures/imds-server.ts';
import {
  HELLO_APP, HELLO_CONFIG, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace,
  type AgentProcess, type Workspace,
} from '../helpers/harness.ts';

const BUCKET = 'fleet--use1-az4--x-s3';
const SESSION_TTL_MS = 3_000;

describe('an agent whose first source is a directory bucket', () => {
  let ws: Workspace;
  let imds: ImdsServer;
  let express: DirectoryBucketServer;
  let agent: AgentProcess;
  let appPort: number;
  let healthPort: number;

  const herd = (...args: string[]) => runHerd([args[0] as string, ...ws.storeFlags, ...args.slice(1)]);
  const served = async () => JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body).release as string;
  /** The release the agent runs, healthy (v1 and v2 share their code: the app is not restarted, its config reloaded). */
  const running = async () => {
    const s = JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body);
    return s.healthy && s.state === 'running' ? s.release as string : undefined;
  };
  const sessions = () => express.requests.filter((r) => r.outcome === 'session');

  beforeAll(async () => {
    ws = await workspace();
    imds = await startImdsServer({
      instanceId: 'i-0express1', region: 'us-east-1', az: 'us-east-1a', tags: { 'herd:role': 'web' },
      credentials: LOCAL_S3_CREDENTIALS, roleName: 'herd-instance',
    });
    express = await startDirectoryBucket({
      bucket: BUCKET, upstream: ws.s3.endpoint, upstreamBucket: ws.bucket, instanceKeys: LOCAL_S3_CREDENTIALS, sessionTtlMs: SESSION_TTL_MS,
    });
    for (const release of ['v1', 'v2']) {
      expect((await herd('publish', '--role', 'web', '--code', HELLO_APP, '--config', HELLO_CONFIG, '--release', release)).code).toBe(0);
    }
    expect((await herd('roll', '--role', 'web', '--release', 'v1')).code).toBe(0);

    healthPort = await freePort();
    appPort = await freePort();
    const configFile = join(ws.dir, 'agent.json');
    await writeFile(configFile, JSON.stringify({
      // The directory bucket first (through the stand-in's endpoint: path style), the standard bucket after it.
      sources: [{ bucket: BUCKET, endpoint: express.endpoint, region: 'us-east-1' }, { bucket: ws.bucket, endpoint: ws.s3.endpoint }],
      dataDir: join(ws.dir, 'data'), healthPort, healthHost: '127.0.0.1', appPort, appUser: null, pollIntervalS: 0.5, drainS: 0.2,
    }));
    agent = startAgent(configFile, cleanEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url }));
    await waitUntil('/healthz 200', async () => (await get(`http://127.0.0.1:${healthPort}/healthz`)).status === 200, 45_000);
  });

  afterAll(async () => {
    await agent?.stop();
    await express?.close();
    await imds?.close();
    await ws?.close();
  });

  it('boots from the directory bucket with a ReadWrite session, and polls it with 304s', async () => {
    expect(await served()).toBe('v1');
    expect(sessions()[0]?.mode).toBe('ReadWrite');
    const forwarded = express.requests.filter((r) => r.outcome === 'forwarded');
    expect(forwarded.some((r) => r.method === 'GET' && r.path.includes('/releases/v1') && r.status === 200)).toBe(true);
    await waitUntil('a 304 on the channel', async () => express.requests.some((r) => r.path.endsWith('/channel.json') && r.status === 304));
    // Nothing was refused: every request carried a live session.
    expect(express.requests.filter((r) => r.outcome !== 'session' && r.outcome !== 'forwarded')).toEqual([]);
  });

  it('writes its report to the directory bucket', async () => {
    await waitUntil('a report PUT', async () => express.requests.some((r) => r.method === 'PUT' && r.path.includes('/roles/web/instances/i-0express1.json') && r.status === 200));
  });

  it('renews its session before it expires', async () => {
    const before = sessions().length;
    await new Promise((r) => setTimeout(r, 2 * SESSION_TTL_MS));
    expect(sessions().length).toBeGreaterThanOrEqual(before + 2);
    expect(express.requests.filter((r) => r.outcome === 'ExpiredToken' || r.outcome === 'AccessDenied')).toEqual([]);
  });

  it('follows a roll read from the directory bucket', async () => {
    expect((await herd('roll', '--role', 'web', '--release', 'v2')).code).toBe(0);
    await waitUntil('v2 running', async () => (await running()) === 'v2', 30_000);
    expect(express.requests.some((r) => r.outcome === 'forwarded' && r.path.includes('/releases/v2') && r.status === 200)).toBe(true);
  });

  it('gets a fresh session when its session is refused as expired, and goes on', async () => {
    const from = express.requests.length;
    // The refused request is retried at once with a fresh session, not left to fail over to the next source.
    // (Expired again while none is refused: the agent may have renewed its session just after.)
    const refusal = await waitUntil('an ExpiredToken', async () => {
      const at = express.requests.findIndex((r, i) => i >= from && r.outcome === 'ExpiredToken');
      if (at < 0) express.expireSessions();
      return at >= 0 && express.requests.length >= at + 3 ? at : undefined;
    });
    const [refused, fresh, retried] = express.requests.slice(refusal, refusal + 3);
    expect(fresh?.outcome).toBe('session');
    expect(retried).toMatchObject({ method: refused?.method, path: refused?.path, outcome: 'forwarded' });
    expect(await running()).toBe('v2');
  });
});
