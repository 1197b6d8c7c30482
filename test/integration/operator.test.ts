// The operator commands beyond roll, with the built CLI against a real S3 server:
// rollback, pause, resume and status — what they print, write to the channel and exit with.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rollback } from '../../agent/commands/rollback.ts';
import { silentLogger } from '../../agent/log.ts';
import { ObjectStore } from '../../agent/store/object-store.ts';
import type { Channel, InstanceReport } from '../../agent/store/schemas.ts';
import { HELLO_APP, HELLO_CONFIG, freePort, runHerd, workspace, type Workspace } from '../helpers/harness.ts';

describe('herd rollback, pause, resume and status against a real S3 server', () => {
  let ws: Workspace;
  let client: S3Client;
  let store: ObjectStore;

  beforeAll(async () => {
    ws = await workspace();
    client = ws.client();
    store = new ObjectStore({ source: ws.source, log: silentLogger(), client });
    for (const release of ['v1', 'v2']) {
      const published = await herd('publish', '--role', 'web', '--code', HELLO_APP, '--config', HELLO_CONFIG, '--release', release);
      expect(published.code).toBe(0);
    }
  });
  afterAll(async () => { await ws?.close(); });

  const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...ws.storeFlags, ...args.slice(1)]);
  const channelNow = async (role = 'web'): Promise<Channel> => {
    const read = await store.getChannel(role);
    if (read.kind !== 'found') throw new Error(`no channel for ${role}`);
    return read.channel;
  };

  it('lists the commands in --help', async () => {
    const { code, stdout } = await runHerd(['--help']);
    expect(code).toBe(0);
    for (const cmd of ['rollback', 'pause', 'resume', 'status']) expect(stdout).toMatch(new RegExp(`^\\s+${cmd}\\b`, 'm'));
  });

  it('refuses, exit 2, to roll back, pause or resume a role without a channel, or a bad role', async () => {
    for (const cmd of ['rollback', 'pause', 'resume']) {
      const { code, stderr } = await herd(cmd, '--role', 'web');
      expect(code).toBe(2);
      expect(stderr).toContain('role web has no channel yet');
    }
    const bad = await herd('rollback', '--role', '../web');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--role');
  });

  it('refuses, exit 2, to roll back a channel with no previous release and leaves it alone', async () => {
    expect((await herd('roll', '--role', 'web', '--release', 'v1')).code).toBe(0);
    const { code, stderr, stdout } = await herd('rollback', '--role', 'web');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('nothing to roll back to: role web runs v1 and its channel has no previous release');
    expect(await channelNow()).toMatchObject({ release: 'v1', previous: null, generation: 1 });
  });

  it('rolls back a wave rollout of v2 to v1, for everyone at once', async () => {
    expect((await herd('roll', '--role', 'web', '--release', 'v2', '--percent', '50', '--waves', '2', '--wave-interval', '600')).code).toBe(0);
    const { code, stdout } = await herd('rollback', '--role', 'web');
    expect(code).toBe(0);
    expect(stdout.trim()).toBe('web: rolled back v2 -> v1 (100% now, generation 3)');
    expect(await channelNow()).toMatchObject({
      release: 'v1', previous: 'v2', paused: false, generation: 3, rollout: { percent: 100, waves: 1, waveIntervalS: 0 },
    });

    const json = await herd('rollback', '--role', 'web', '--json');
    expect(json.code).toBe(0);
    const out = JSON.parse(json.stdout);
    expect(out).toMatchObject({ from: 'v1', wasPaused: false, channel: { release: 'v2', previous: 'v1', generation: 4 } });
    expect(out.channel).toEqual(await channelNow());
  });

  it('pauses, says so when already paused, and resumes', async () => {
    const paused = await herd('pause', '--role', 'web');
    expect(paused.code).toBe(0);
    expect(paused.stdout.trim()).toBe('web: paused on v2 (generation 5)');
    expect(await channelNow()).toMatchObject({ paused: true, generation: 5, release: 'v2' });

    const again = await herd('pause', '--role', 'web', '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ changed: false, channel: { paused: true, generation: 5 } });
    expect(await channelNow()).toMatchObject({ paused: true, generation: 5 });
    expect((await herd('pause', '--role', 'web')).stdout.trim()).toBe('web: already paused; nothing changed (generation 5)');

    const resumed = await herd('resume', '--role', 'web', '--json');
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ changed: true, channel: { paused: false, generation: 6 } });
    expect(await channelNow()).toMatchObject({ paused: false, generation: 6, release: 'v2', previous: 'v1' });
    expect((await herd('resume', '--role', 'web')).stdout.trim()).toBe('web: already running; nothing changed (generation 6)');
  });

  it('rollback of a paused channel resumes it, or agents would not move, and says so', async () => {
    expect((await herd('pause', '--role', 'web')).code).toBe(0);
    const { code, stdout, stderr } = await herd('rollback', '--role', 'web');
    expect(code).toBe(0);
    expect(stdout.trim()).toBe('web: rolled back v2 -> v1 (100% now, generation 8, resumed)');
    expect(stderr).toBe('note: channel web was paused; rollback resumes it\n');
    expect(await channelNow()).toMatchObject({ release: 'v1', previous: 'v2', paused: false, generation: 8 });
  });

  it('roll onto a paused channel keeps it paused and says so; resume rolls it out', async () => {
    for (const release of ['v1', 'v2']) {
      expect((await herd('publish', '--role', 'shop', '--code', HELLO_APP, '--config', HELLO_CONFIG, '--release', release)).code).toBe(0);
    }
    expect((await herd('roll', '--role', 'shop', '--release', 'v1')).code).toBe(0);
    expect((await herd('pause', '--role', 'shop')).code).toBe(0);
    const rolled = await herd('roll', '--role', 'shop', '--release', 'v2');
    expect(rolled.code).toBe(0);
    expect(rolled.stdout.trim()).toBe('shop: v1 -> v2 (100%, generation 3, paused)');
    expect(rolled.stderr).toMatch(/^note: channel shop is paused: release v2 will roll out when you run herd resume --role shop\n/);
    expect(await channelNow('shop')).toMatchObject({ release: 'v2', previous: 'v1', paused: true, generation: 3 });

    const json = await herd('roll', '--role', 'shop', '--release', 'v2', '--percent', '50', '--json');
    expect(json.code).toBe(0);
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout)).toMatchObject({ paused: true, channel: { release: 'v2', paused: true, generation: 4, rollout: { percent: 50 } } });

    expect((await herd('resume', '--role', 'shop')).stdout.trim()).toBe('shop: running on v2 (generation 5)');
    expect(await channelNow('shop')).toMatchObject({ release: 'v2', paused: false, generation: 5 });
    const after = await herd('roll', '--role', 'shop', '--release', 'v2', '--json');
    expect(JSON.parse(after.stdout)).toMatchObject({ paused: false, channel: { paused: false, generation: 6 } });
  });

  it('sends If-Match with the channel\'s ETag on the wire (s3rver itself does not enforce it)', async () => {
    const sent: Array<{ method: string; path: string; ifMatch: string | undefined }> = [];
    const watched = ws.client();
    watched.middlewareStack.add((next) => async (args) => {
      const req = args.request as { method: string; path: string; headers: Record<string, string> };
      sent.push({ method: req.method, path: req.path, ifMatch: req.headers['if-match'] });
      return next(args);
    }, { step: 'finalizeRequest' });
    const before = await store.getChannel('web');
    await rollback({ store: new ObjectStore({ source: ws.source, log: silentLogger(), client: watched }), role: 'web', actor: 'test', log: silentLogger() });
    const put = sent.filter((r) => r.method === 'PUT');
    expect(put).toEqual([{ method: 'PUT', path: `/${ws.bucket}/herd/roles/web/channel.json`, ifMatch: before.kind === 'found' ? before.etag : 'no channel' }]);
    expect(put[0]?.ifMatch).toMatch(/^"[0-9a-f]{32}"$/);
  });

  describe('status', () => {
    const report = (over: Partial<InstanceReport>): InstanceReport => ({
      schema: 'herd/instance@1', instanceId: 'i-x', role: 'web', az: 'eu-west-1a', region: 'eu-west-1',
      release: 'v2', desired: 'v2', state: 'running', healthy: true, lastError: null, failedReleases: [],
      agentVersion: '0.1.0', updatedAt: new Date().toISOString(), ...over,
    });

    beforeAll(async () => {
      await store.putReport(report({ instanceId: 'i-0fresh', az: 'eu-west-1b' }));
      await store.putReport(report({
        instanceId: 'i-0stale', az: 'eu-west-1a', release: 'v1', healthy: false, state: 'crash-loop',
        lastError: 'app exited with code 1', updatedAt: new Date(Date.now() - 2 * 3_600_000).toISOString(),
      }));
      await client.send(new PutObjectCommand({ Bucket: ws.bucket, Key: 'herd/roles/web/instances/i-0garbage.json', Body: '{"schema": "herd/instance@1", trunc' }));
    });

    it('prints the channel, a row per report (stale and unreadable ones too) and a summary, exit 0', async () => {
      const { code, stdout, stderr } = await herd('status', '--role', 'web');
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const lines = stdout.trimEnd().split('\n');
      expect(lines[0]).toBe('channel  web -> v2 (previous v1)');
      expect(lines.slice(1, 4).join('\n')).toMatch(/^rollout  100% at once, from .*\npaused   no\nupdated  generation 9, .* by test$/);
      const table = lines.slice(5, 9);
      expect(table[0]).toMatch(/^INSTANCE\s+AZ\s+RELEASE\s+DESIRED\s+STATE\s+HEALTHY\s+LAST SEEN\s+ERROR$/);
      expect(table[1]).toMatch(/^i-0stale\s+eu-west-1a\s+v1\s+v2\s+crash-loop\s+no\s+2h STALE\s+app exited with code 1$/);
      expect(table[2]).toMatch(/^i-0fresh\s+eu-west-1b\s+v2\s+v2\s+running\s+yes\s+\d+s$/);
      expect(table[3]).toMatch(/^i-0garbage(\s+-){6}\s+unreadable: .*i-0garbage\.json: not valid JSON/);
      expect(lines.at(-1)).toBe('3 instances: 1 healthy, 1 on v2, 1 stale (no report for over 5400s), 1 unreadable');
    });

    it('prints one JSON document with --json; --stale-after moves the line', async () => {
      const { code, stdout } = await herd('status', '--role', 'web', '--json', '--stale-after', '10800');
      expect(code).toBe(0);
      const out = JSON.parse(stdout);
      expect(Object.keys(out).sort()).toEqual(['channel', 'channelError', 'expired', 'generatedAt', 'instances', 'role', 'rollout', 'signature', 'staleAfterS', 'summary']);
      expect(out.channel).toEqual(await channelNow());
      expect(out.summary).toEqual({ instances: 3, healthy: 1, onRelease: 1, stale: 0, unreadable: 1 });
      expect(out.instances.map((r: { instance: string }) => r.instance)).toEqual(['i-0stale', 'i-0fresh', 'i-0garbage']);
      expect(out.instances[0]).toMatchObject({ release: 'v1', state: 'crash-loop', healthy: false, stale: false, lastError: 'app exited with code 1', error: null });
      expect(out.instances[0].ageS).toBeGreaterThanOrEqual(7200);
      expect(out.instances[2]).toMatchObject({ instance: 'i-0garbage', az: null, healthy: null, error: expect.stringContaining('not valid JSON') });
    });

    it('says so for a role with no channel and no instances, exit 0', async () => {
      const { code, stdout } = await herd('status', '--role', 'api');
      expect(code).toBe(0);
      expect(stdout.trimEnd().split('\n')).toEqual(['channel  none for role api (run herd roll)', '', 'no instance of role api has reported yet']);
      const json = JSON.parse((await herd('status', '--role', 'api', '--json')).stdout);
      expect(json).toMatchObject({ channel: null, instances: [], summary: { instances: 0 } });
    });

    it('shows an unreadable channel instead of hiding the fleet', async () => {
      await client.send(new PutObjectCommand({ Bucket: ws.bucket, Key: 'herd/roles/db/channel.json', Body: '{"schema":"herd/channel@1","role":"db"}' }));
      await store.putReport(report({ instanceId: 'i-0db', role: 'db' }));
      const { code, stdout } = await herd('status', '--role', 'db');
      expect(code).toBe(0);
      expect(stdout).toMatch(/^channel  unreadable: herd\/roles\/db\/channel\.json: release: /);
      expect(stdout).toContain('i-0db');
    });

    it('exits 2 on a bad --stale-after and 1 when the store cannot be read', async () => {
      const bad = await herd('status', '--role', 'web', '--stale-after', '0');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--stale-after 0: takes a number of seconds above 0');
      const down = await runHerd(['status', '--bucket', ws.bucket, '--endpoint', `http://127.0.0.1:${await freePort()}`, '--role', 'web']);
      expect(down.code).toBe(1);
      expect(down.stdout).toBe('');
      expect(down.stderr).toContain('cannot read');
    });
  });
});
