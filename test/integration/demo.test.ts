// `npm run demo` (dist/demo.mjs) is the newcomer's first command: it must work with nothing
// set up, roll a fleet under traffic without failing a request, and leave nothing behind.
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

interface Summary {
  rolled: boolean;
  from: string;
  to: string;
  dir: string;
  balancer: { description: string; url: string; pid: number | null };
  requests: { served: number; failed: number; byRelease: Record<string, number>; failures: Record<string, number> };
  instances: Array<{ instanceId: string; zone: string; release: string; healthy: boolean; lb: string; agentPid: number; appPid: number | null; app: string; healthz: string }>;
  interrupted?: boolean;
}

async function expectNothingLeft(out: Summary, before: Set<string>): Promise<void> {
  expect(existsSync(out.dir)).toBe(false);
  expect([...await demoDirs()].filter((n) => !before.has(n))).toEqual([]);
  expect(await processesUnder(out.dir)).toEqual([]);
  const pids = [out.balancer.pid, ...out.instances.flatMap((i) => [i.agentPid, i.appPid])];
  expect(pids.filter(alive)).toEqual([]);
  for (const i of out.instances) await expect(fetch(i.healthz)).rejects.toThrow();
  if (out.balancer.url) await expect(fetch(out.balancer.url)).rejects.toThrow();
}

describe('the demo', () => {
  it('lists its flags in --help and exits 2 on an unknown one', async () => {
    const help = await runScript(DEMO, ['--help'], cleanEnv());
    expect(help.code).toBe(0);
    for (const flag of ['--keep', '--exit-after <seconds>', '--json']) expect(help.stdout).toContain(flag);
    const wrong = await runScript(DEMO, ['--frobnicate'], cleanEnv());
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("unknown option '--frobnicate'");
  });

  it('rolls three instances in three zones to the second release under traffic without a failed request, then cleans up', async () => {
    const before = await demoDirs();
    const { code, stdout, stderr } = await runScript(DEMO, ['--json'], cleanEnv());
    expect(stderr).toBe('');
    const out = JSON.parse(stdout) as Summary;
    expect(out.instances.map((i) => [i.release, i.healthy, i.lb])).toEqual([['hello-2', true, 'UP'], ['hello-2', true, 'UP'], ['hello-2', true, 'UP']]);
    expect(code).toBe(0);
    expect(out.rolled).toBe(true);
    expect(new Set(out.instances.map((i) => i.zone))).toEqual(new Set(['local-1a', 'local-1b', 'local-1c']));
    // Traffic flowed before, during and after the roll, and none of it failed.
    expect(out.requests.failures).toEqual({});
    expect(out.requests.failed).toBe(0);
    expect(out.requests.served).toBeGreaterThan(0);
    expect(out.requests.byRelease['hello-1']).toBeGreaterThan(0);
    expect(out.requests.byRelease['hello-2']).toBeGreaterThan(0);
    expect(out.requests.served).toBe((out.requests.byRelease['hello-1'] ?? 0) + (out.requests.byRelease['hello-2'] ?? 0));
    await expectNothingLeft(out, before);
  }, 150_000);

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
