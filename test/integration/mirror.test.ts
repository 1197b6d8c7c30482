// herd mirror between two S3 servers over HTTP, through the real CLI: it copies what agents
// read (an agent reading only the mirror boots and follows it), skips what is there, uses
// shared-config profiles, survives being killed, and refuses a release whose blob does not
// verify (nothing of it copied, nor a channel naming it) while copying everything else; a
// signed channel goes with its signature, byte for byte, and a re-sign of it follows.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../fixtures/fault-proxy.ts';
import {
  HERD, HELLO_APP, HELLO_CONFIG, S3_ENV, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace,
  type AgentProcess, type Workspace,
} from '../helpers/harness.ts';
import { codeVariant } from '../helpers/releases.ts';
import { silentLogger } from '../../agent/log.ts';
import { createS3Client } from '../../agent/store/client.ts';
import { ObjectStore } from '../../agent/store/object-store.ts';
import { LOCAL_S3_CREDENTIALS } from '../../support/local-s3.ts';

describe('herd mirror', () => {
  let src: Workspace;
  let dst: Workspace;
  let agent: AgentProcess | undefined;
  let proxy: FaultProxy | undefined;
  let healthPort: number;
  let trustedKey: string;
  let signKey: string;
  const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...src.storeFlags, ...args.slice(1)]);
  const mirror = (...args: string[]) => herd('mirror', '--to-bucket', dst.bucket, '--to-endpoint', dst.s3.endpoint, ...args);
  /** The destination under another prefix, read directly. */
  const dstStore = (prefix = 'herd') => {
    const source = { ...dst.source, prefix };
    return new ObjectStore({ source, log: silentLogger(), client: createS3Client(source, LOCAL_S3_CREDENTIALS) });
  };
  const publishAndRoll = async (release: string, code: string, roll = true, ...more: string[]) => {
    const p = await herd('publish', '--role', 'web', '--code', code, '--config', HELLO_CONFIG, '--release', release, ...more);
    expect(p.stderr).not.toContain('herd:');
    if (roll) expect((await herd('roll', '--role', 'web', '--release', release)).code).toBe(0);
  };
  const agentRuns = (release: string) => waitUntil(`the mirror's agent runs ${release}`, async () => {
    const s = JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body);
    return s.release === release && s.healthy && s.state === 'running' ? s : undefined;
  }, 45_000);

  beforeAll(async () => {
    [src, dst] = await Promise.all([workspace('herd-source'), workspace('herd-mirror')]);
    const key = await runHerd(['keygen', '--out', join(src.dir, 'keys'), '--json']);
    ({ trustedKey, private: signKey } = JSON.parse(key.stdout));
    await publishAndRoll('v1', HELLO_APP);
    await publishAndRoll('v2', await codeVariant(src.dir, 'v2'), true, '--sign-key', JSON.parse(key.stdout).private);
    expect((await herd('publish', '--role', 'api', '--code', HELLO_APP, '--release', 'a1')).code).toBe(0);
    // s3rver lists a common prefix only when an object sits right under it (S3 lists every
    // one): api gets a channel so that `--all` finds it there as it would in S3.
    expect((await herd('roll', '--role', 'api', '--release', 'a1')).code).toBe(0);
  });

  afterAll(async () => {
    await agent?.stop();
    await proxy?.close();
    await Promise.all([src?.close(), dst?.close()]);
  });

  it('copies every role byte for byte, checks signatures with --trusted-key, and a rerun copies nothing', async () => {
    const first = await mirror('--all', '--json', '--trusted-key', trustedKey);
    // v1 is unsigned: with a trusted key, it is refused by name, and so is the channel naming it as previous.
    expect(first.code).toBe(1);
    expect(first.stderr).toContain('web/v1');
    expect(first.stderr).toContain('not signed');

    const all = await mirror('--all', '--json');
    expect(all.code).toBe(0);
    const out = JSON.parse(all.stdout);
    const web = out.roles.find((r: { role: string }) => r.role === 'web');
    expect(web).toMatchObject({ releasesCopied: ['v1'], releasesPresent: 1, channel: { action: 'copy', generation: 2 } });
    expect(out.roles.map((r: { role: string }) => r.role).sort()).toEqual(['api', 'web']);

    const [from, to] = [src.store(), dstStore()];
    for (const [role, id] of [['web', 'v1'], ['web', 'v2'], ['api', 'a1']] as const) {
      expect((await to.getManifest(role, id)).bytes.equals((await from.getManifest(role, id)).bytes)).toBe(true);
    }
    expect((await to.getSignature('web', 'v2'))?.equals((await from.getSignature('web', 'v2')) as Buffer)).toBe(true);
    expect(await to.getSignature('web', 'v1')).toBeNull();
    const channel = await to.getChannel('web');
    expect(channel.kind === 'found' && channel.channel).toMatchObject({ release: 'v2', previous: 'v1', generation: 2 });

    const again = await mirror('--role', 'web', '--role', 'api');
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('no --trusted-key given: signatures are copied as they are, not verified');
    expect(again.stdout).toContain('web: 0 releases copied (2 already there), 0 blobs (0 B) copied, 0 skipped, channel: generation 2 already there');
  });

  it('an agent reading only the mirror boots from it', async () => {
    healthPort = await freePort();
    const configFile = join(dst.dir, 'agent.json');
    await writeFile(configFile, JSON.stringify({
      sources: [{ bucket: dst.bucket, endpoint: dst.s3.endpoint }], dataDir: join(dst.dir, 'data'),
      healthPort, healthHost: '127.0.0.1', appPort: await freePort(), appUser: null, pollIntervalS: 0.5, drainS: 0.5,
      identity: { provider: 'static', instanceId: 'i-mirror', role: 'web', az: 'z1', region: 'r1' },
    }));
    agent = startAgent(configFile, cleanEnv(S3_ENV));
    await agentRuns('v2');
  });

  it('takes each store\'s credentials from its own shared-config profile', async () => {
    const credentials = join(src.dir, 'credentials');
    const good = `aws_access_key_id = ${LOCAL_S3_CREDENTIALS.accessKeyId}\naws_secret_access_key = ${LOCAL_S3_CREDENTIALS.secretAccessKey}\n`;
    await writeFile(credentials, `[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n[source]\n${good}[mirror]\n${good}`);
    const env = cleanEnv({ AWS_SHARED_CREDENTIALS_FILE: credentials, AWS_CONFIG_FILE: join(src.dir, 'no-config'), AWS_REGION: 'us-east-1' });
    const args = ['mirror', ...src.storeFlags, '--to-bucket', dst.bucket, '--to-endpoint', dst.s3.endpoint, '--to-prefix', 'profiled', '--role', 'web', '--profile', 'source'];
    const withDefault = await runHerd(args, env);
    expect(withDefault.code).toBe(1);
    const withProfile = await runHerd([...args, '--to-profile', 'mirror'], env);
    expect(withProfile.stderr).not.toContain('failed');
    expect(withProfile.code).toBe(0);
    expect(withProfile.stdout).toContain('web: 2 releases copied');
    expect((await dstStore('profiled').getChannel('web')).kind).toBe('found');
  });

  it('killed halfway, leaves only whole objects, and a rerun completes', async () => {
    proxy = await startFaultProxy({ upstream: dst.s3.endpoint });
    // Hold the write of v2's manifest (v1 whole, v2's blobs and signature written by then), and kill.
    await proxy.set({ mode: 'hang', only: /\/killed\/roles\/web\/releases\/v2\.json\?x-id=PutObject/ });
    const child = spawn(process.execPath, [HERD, 'mirror', ...src.storeFlags, '--to-bucket', dst.bucket, '--to-endpoint', proxy.url, '--to-prefix', 'killed', '--role', 'web'], { env: cleanEnv(S3_ENV), stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    await waitUntil('the mirror waits on v2', async () => (proxy as FaultProxy).count({ fault: 'hang' }) > 0);
    child.kill('SIGKILL');
    await exited;
    await proxy.set({ mode: 'pass' });
    const killed = dstStore('killed');
    expect((await killed.getManifest('web', 'v1')).manifest.id).toBe('v1');
    const v2 = (await src.store().getManifest('web', 'v2')).manifest;
    expect(await killed.headBlob(v2.code.digest)).toBe(v2.code.size);
    expect(await killed.getSignature('web', 'v2')).not.toBeNull();
    await expect(killed.getManifest('web', 'v2')).rejects.toThrow(/not published/);
    expect((await killed.getChannel('web')).kind).toBe('missing');

    // The rerun writes only v2's manifest: its two blobs (code, and the config v1 shares) are there.
    const rerun = await mirror('--to-prefix', 'killed', '--role', 'web', '--json');
    expect(rerun.code).toBe(0);
    expect(JSON.parse(rerun.stdout).roles[0]).toMatchObject({ releasesCopied: ['v2'], releasesPresent: 1, blobsCopied: 0, blobsSkipped: 2, channel: { action: 'copy' } });
    expect((await killed.getManifest('web', 'v2')).manifest.id).toBe('v2');
  });

  it('--watch carries a new roll to the mirror, and its agent applies it', async () => {
    const watch = spawn(process.execPath, [HERD, 'mirror', ...src.storeFlags, '--to-bucket', dst.bucket, '--to-endpoint', dst.s3.endpoint, '--role', 'web', '--watch', '--interval', '1'], { env: cleanEnv(S3_ENV), stdio: ['ignore', 'pipe', 'pipe'] });
    let printed = '';
    watch.stdout.on('data', (d: Buffer) => { printed += d; });
    watch.stderr.on('data', (d: Buffer) => { printed += d; });
    const exited = new Promise<number | null>((r) => watch.once('exit', r));
    try {
      await publishAndRoll('v3', await codeVariant(src.dir, 'v3'));
      await agentRuns('v3');
      expect(printed).toContain('channel web generation 3 copied (release v3)');
    } finally {
      watch.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('refuses a release whose blob does not verify, whole, and still copies the rest', async () => {
    await publishAndRoll('v4', await codeVariant(src.dir, 'v4'));
    await publishAndRoll('v5', await codeVariant(src.dir, 'v5'), false);
    const tampered = (await src.store().getManifest('web', 'v4')).manifest.code.digest;
    await src.client().send(new PutObjectCommand({ Bucket: src.bucket, Key: src.store().layout.blob(tampered), Body: 'not the bundle' }));

    const run = await mirror('--role', 'web');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/release web\/v4: refused: .*sha256/);
    expect(run.stderr).toContain('herd: mirror refused: web/v4');
    expect(run.stderr).toContain('web/channel generation 4 names release v4, which was refused');
    const to = dstStore();
    expect((await to.getManifest('web', 'v5')).manifest.id).toBe('v5');
    await expect(to.getManifest('web', 'v4')).rejects.toThrow(/not published/);
    expect(await to.headBlob(tampered)).toBeNull();
    const channel = await to.getChannel('web');
    expect(channel.kind === 'found' && channel.channel.release).toBe('v3');
  });
  it('herd status --compare shows which channel generation each store has, BEHIND when a roll is not mirrored', async () => {
    // The source against itself: the same generation.
    const same = await herd('status', '--role', 'web', '--compare', `s3://${src.bucket}/herd`, '--compare-endpoint', src.s3.endpoint, '--json');
    expect(same.code, same.stderr).toBe(0);
    expect((JSON.parse(same.stdout).stores as Array<{ standing: string }>).map((s) => s.standing)).toEqual(['same', 'same']);
    // The mirror: the last channel named a release the mirror refused, so it was not copied.
    const behind = await herd('status', '--role', 'web', '--compare', `s3://${dst.bucket}/herd`, '--compare-endpoint', dst.s3.endpoint);
    expect(behind.code).toBe(0);
    const line = behind.stdout.split('\n').find((l) => l.includes(`s3://${dst.bucket}/herd`));
    expect(line).toMatch(/: generation \d+ -> v\d+  BEHIND$/);
    const bad = await herd('status', '--role', 'web', '--compare', 'ftp://x');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--compare takes s3://BUCKET[/PREFIX] or an http(s):// URL');
  });

  it('copies a signed channel with its signature byte for byte, follows a re-sign, and with --trusted-key refuses one that does not verify', async () => {
    expect((await herd('publish', '--role', 'sig', '--code', HELLO_APP, '--release', 's1', '--sign-key', signKey)).code).toBe(0);
    expect((await herd('roll', '--role', 'sig', '--release', 's1', '--sign-key', signKey, '--expires-in', '2d')).code).toBe(0);
    const [from, to] = [src.store(), dstStore()];
    const same = async () => {
      const [a, b] = [await from.getChannel('sig'), await to.getChannel('sig')];
      const [sa, sb] = [await from.getChannelSignature('sig'), await to.getChannelSignature('sig')];
      return a.kind === 'found' && b.kind === 'found' && a.bytes.equals(b.bytes) && !!sa && !!sb && sa.bytes.equals(sb.bytes);
    };
    const first = await mirror('--role', 'sig', '--trusted-key', trustedKey);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('channel sig generation 1 copied (release s1, signed)');
    expect(await same()).toBe(true);

    expect((await herd('resign', '--role', 'sig', '--sign-key', signKey, '--expires-in', '30d')).code).toBe(0);
    const resigned = await mirror('--role', 'sig', '--trusted-key', trustedKey);
    expect(resigned.code, resigned.stderr).toBe(0);
    expect(resigned.stderr).toContain('channel sig generation 1 copied (release s1, signed)');
    expect(await same()).toBe(true);

    const before = await to.getChannel('sig');
    expect((await herd('pause', '--role', 'sig', '--unsigned')).code).toBe(0);
    const refused = await mirror('--role', 'sig', '--trusted-key', trustedKey);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('channel sig: refused: generation 2: the signature by key');
    const after = await to.getChannel('sig');
    expect(after.kind === 'found' && before.kind === 'found' && after.bytes.equals(before.bytes)).toBe(true);
  });
});
