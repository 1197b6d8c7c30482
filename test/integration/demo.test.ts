// `npm run demo` (dist/demo.mjs) is the newcomer's first command: it must work with nothing
// set up, roll a fleet under traffic without failing a request, live through the outage
// drill (a zone lost, then the primary store) without failing one either, and leave nothing behind.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO, cleanEnv, runScript, waitUntil } from '../helpers/harness.ts';

const demoDirs = async () => new Set((await readdir(tmpdir())).filter((n) => n.startsWith('herd-demo-')));

/** Processes whose command line or working directory is inside `dir` (agents, HAProxy, apps). */
async function processesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
    if (cmdline.includes(dir) || cwd.startsWith(dir)) found.push(`${pid} ${cmdline.replaceAll('\0', ' ')} [${cwd}]`);
  }
  return found;
}

function alive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Counts { served: number; failed: number; byRelease: Record<string, number>; failures: Record<string, number> }

interface Phase {
  name: string;
  requests: Counts;
  lost: string | null;
  replacement: {
    instanceId: string; zone: string; sources: string[]; healthyAfterS: number; inBalancerAfterS: number; fetchedFrom: string[]; failedSources: string[];
  } | null;
}

interface Summary {
  rolled: boolean;
  drillOnly: boolean;
  from: string;
  to: string;
  dir: string;
  store: string;
  mirror: string | null;
  balancer: { description: string; url: string; pid: number | null };
  requests: Counts;
  phases: Phase[];
  instances: Array<{ instanceId: string; zone: string; release: string; state: string; healthy: boolean; lb: string; agentPid: number; appPid: number | null; app: string; healthz: string }>;
  interrupted?: boolean;
}

async function expectNothingLeft(out: Summary, before: Set<string>): Promise<void> {
  expect(existsSync(out.dir)).toBe(false);
  expect([...await demoDirs()].filter((n) => !before.has(n))).toEqual([]);
  expect(await processesUnder(out.dir)).toEqual([]);
  const pids = [out.balancer.pid, ...out.instances.flatMap((i) => [i.agentPid, i.appPid])];
  expect(pids.filter(alive)).toEqual([]);
  for (const i of out.instances) await expect(fetch(i.healthz)).rejects.toThrow();
  for (const url of [out.balancer.url, out.store, out.mirror]) if (url) await expect(fetch(url)).rejects.toThrow();
}

/** The fleet table's instances and the stores' URLs, from the notes the demo writes on stderr. */
const noted = (stderr: string, pattern: RegExp) => [...stderr.matchAll(pattern)].map((m) => m[1] as string);

describe('the demo', () => {
  it('lists its flags in --help and exits 2 on an unknown one', async () => {
    const help = await runScript(DEMO, ['--help'], cleanEnv());
    expect(help.code).toBe(0);
    for (const flag of ['--drill-only', '--keep', '--exit-after <seconds>', '--json']) expect(help.stdout).toContain(flag);
    const wrong = await runScript(DEMO, ['--frobnicate'], cleanEnv());
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("unknown option '--frobnicate'");
  });

  it('rolls three instances in three zones to the second release under traffic, lives through losing a zone and the primary store, without a failed request, then cleans up', async () => {
    const before = await demoDirs();
    const { code, stdout, stderr } = await runScript(DEMO, ['--json'], cleanEnv());
    expect(stderr).toBe('');
    const out = JSON.parse(stdout) as Summary;
    expect(code).toBe(0);
    expect(out.rolled).toBe(true);
    expect(out.phases.map((p) => p.name)).toEqual(['roll', 'zone loss', 'store loss']);
    // Traffic flowed before, during and after the roll and the drill, and none of it failed.
    expect(out.requests.failures).toEqual({});
    expect(out.requests.failed).toBe(0);
    expect(out.requests.byRelease['hello-1']).toBeGreaterThan(0);
    expect(out.requests.byRelease['hello-2']).toBeGreaterThan(0);
    expect(out.requests.served).toBe((out.requests.byRelease['hello-1'] ?? 0) + (out.requests.byRelease['hello-2'] ?? 0));
    for (const phase of out.phases) {
      expect(phase.requests.failed, phase.name).toBe(0);
      expect(phase.requests.served, phase.name).toBeGreaterThan(0);
    }
    expect(out.phases[0]?.requests.byRelease['hello-2']).toBeGreaterThan(0);

    // Zone loss: the lost zone's instance is gone (agent and app), its replacement in a zone that survives.
    const [, zoneLoss, storeLoss] = out.phases as [Phase, Phase, Phase];
    const lost = out.instances.filter((i) => i.state === 'lost');
    expect(lost.map((i) => [i.instanceId, i.zone, i.lb])).toEqual([['i-herd-a', 'local-1a', 'DOWN']]);
    expect(zoneLoss.lost).toBe('i-herd-a in local-1a');
    expect(zoneLoss.replacement).toMatchObject({ instanceId: 'i-herd-b-2', zone: 'local-1b' });
    expect(zoneLoss.replacement?.healthyAfterS).toBeGreaterThan(0);
    expect(zoneLoss.replacement?.inBalancerAfterS).toBeGreaterThanOrEqual(zoneLoss.replacement?.healthyAfterS ?? Infinity);

    // Store loss: a fresh instance reading [primary, mirror] fetched from the mirror after the primary failed it.
    const primary = `s3://herd-demo/herd (${out.store})`;
    const mirror = `s3://herd-demo-mirror/herd (${out.mirror})`;
    expect(storeLoss.lost).toBe(`the primary store at ${out.store}`);
    expect(storeLoss.replacement).toMatchObject({ instanceId: 'i-herd-c-2', zone: 'local-1c', sources: [primary, mirror], fetchedFrom: [mirror] });
    expect(storeLoss.replacement?.failedSources).toContain(primary);

    // The fleet at the end: every instance still standing on hello-2, healthy and in the load balancer.
    const standing = out.instances.filter((i) => i.state !== 'lost');
    expect(standing.map((i) => [i.instanceId, i.zone, i.release, i.healthy, i.lb])).toEqual([
      ['i-herd-b', 'local-1b', 'hello-2', true, 'UP'], ['i-herd-c', 'local-1c', 'hello-2', true, 'UP'],
      ['i-herd-b-2', 'local-1b', 'hello-2', true, 'UP'], ['i-herd-c-2', 'local-1c', 'hello-2', true, 'UP'],
    ]);
    await expectNothingLeft(out, before);
  }, 180_000);

  it('with --drill-only, skips the roll and goes straight to the drill; Ctrl-C in the middle of it stops everything, the mirror store too', async () => {
    const before = await demoDirs();
    const child = spawn(process.execPath, [DEMO, '--drill-only'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let [stdout, stderr] = ['', ''];
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    const exited = new Promise<number | null>((r) => child.once('close', (c) => r(c)));
    // Interrupt once the primary store is down and the fresh instance boots from the mirror.
    await waitUntil('the drill to lose the primary store', async () => stderr.includes('booting i-herd-c-2'), 90_000);
    const dir = join(tmpdir(), [...await demoDirs()].find((n) => !before.has(n)) as string);
    child.kill('SIGINT');
    expect(await exited).toBe(0);

    expect(stderr).not.toContain('rolling it');
    expect(stderr).toMatch(/zone loss: local-1a is gone: i-herd-a's agent and app killed/);
    expect(stderr).toMatch(/the load balancer took i-herd-a out after \d+\.\d s; booting a replacement, i-herd-b-2 in local-1b/);
    expect(stderr).toMatch(/filled by `herd mirror --bucket herd-demo .* --to-bucket herd-demo-mirror .*`: 1 release copied \(hello-1\), channel generation 1/);
    expect(stderr).toMatch(/^interrupted: stopping/m);
    // The summary, for people: no roll, the zone loss with its requests and its replacement.
    expect(stdout).toMatch(/^ {2}web: hello-1 on \d instances in \d zones; no roll \(--drill-only\)$/m);
    expect(stdout).toMatch(/^ {4}zone loss +\d+ served, 0 failed in \d+\.\d s: lost i-herd-a in local-1a; i-herd-b-2 in local-1b healthy after \d+\.\d s \(in the load balancer after \d+\.\d s\)$/m);
    expect(stdout).toMatch(/^ {2}requests through .* [1-9]\d* served, 0 failed$/m);
    expect(stdout).toMatch(/served by release: hello-1 \d+$/m);
    expect(stdout).not.toContain('hello-2');

    expect(existsSync(dir)).toBe(false);
    expect([...await demoDirs()].filter((n) => !before.has(n))).toEqual([]);
    expect(await processesUnder(dir)).toEqual([]);
    const urls = noted(stderr, /(?:local S3 store|mirror store|load balancer: [^\n]*?) at (http:\/\/127\.0\.0\.1:\d+)/g);
    expect(urls).toHaveLength(3);
    for (const url of urls) await expect(fetch(url)).rejects.toThrow();
  }, 120_000);

  it('stops everything and removes its files on Ctrl-C while the fleet boots', async () => {
    const before = await demoDirs();
    const child = spawn(process.execPath, [DEMO, '--json'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    const exited = new Promise<number | null>((r) => child.once('close', (c) => r(c)));
    // Interrupt once the agents and the load balancer are configured.
    await waitUntil('the demo to start its fleet', async () => {
      for (const name of [...await demoDirs()].filter((n) => !before.has(n))) {
        if (existsSync(join(tmpdir(), name, 'haproxy.cfg')) || existsSync(join(tmpdir(), name, 'i-herd-c.json'))) return true;
      }
      return false;
    }, 60_000);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const out = JSON.parse(stdout) as Summary;
    expect(out.interrupted).toBe(true);
    expect(out.rolled).toBe(false);
    expect(out.requests.failed).toBe(0);
    await expectNothingLeft(out, before);
  }, 90_000);
});
