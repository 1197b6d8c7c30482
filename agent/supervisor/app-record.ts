// Finding and stopping an app that a SIGKILLed agent left behind: its own process group
// keeps it alive and on the app port. Under systemd the unit's cgroup goes with the agent;
// anywhere else (a container without an init, another supervisor, a hand-run agent) the
// next run must stop it before it starts its own app on that port.
// Two ways to find it: the pid this agent records at each start (with the process's start
// time, so a reused pid is never taken for it), and any process that works inside
// <dataDir>/releases with HERD_RELEASE in its environment, as every app this agent starts does
// (an operator's shell that is only standing in a release directory is left alone).
import { readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { sep } from 'node:path';
import type { Logger } from '../log.ts';
import { sleep } from '../clock.ts';

function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold anything.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? null : fields[19] ?? null;
  } catch {
    return null;
  }
}

export function recordApp(file: string, pid: number): void {
  try { writeFileSync(file, `${pid} ${startTimeOf(pid) ?? '?'}\n`); } catch { /* best effort */ }
}

export function forgetApp(file: string): void {
  rmSync(file, { force: true });
}

function recordedApp(file: string): number[] {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch { return []; }
  forgetApp(file);
  const [pidText, started] = text.trim().split(' ');
  const pid = Number(pidText);
  return Number.isInteger(pid) && pid > 1 && startTimeOf(pid) === started ? [pid] : [];
}

/** Apps (other than this process) working inside `dir`; those this user may not look at are skipped. */
function appsWorkingIn(dir: string): number[] {
  let entries: string[];
  try {
    dir = realpathSync(dir);
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
    try {
      if (!readlinkSync(`/proc/${pid}/cwd`).startsWith(dir + sep)) continue;
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').some((v) => v.startsWith('HERD_RELEASE='))) found.push(pid);
    } catch {
      // gone, or not ours to look at
    }
  }
  return found;
}

/**
 * Stops what a previous run left running: the recorded app and anything working in
 * `releasesDir`, each with its process group; SIGTERM, then SIGKILL after `graceMs`.
 * Returns the pids it stopped.
 */
export async function reapLeftoverApp(input: { file: string; releasesDir: string; log: Logger; graceMs?: number }): Promise<number[]> {
  const pids = [...new Set([...recordedApp(input.file), ...appsWorkingIn(input.releasesDir)])];
  if (pids.length === 0) return [];
  const started = new Map(pids.map((pid) => [pid, startTimeOf(pid)]));
  const running = () => pids.filter((pid) => started.get(pid) != null && startTimeOf(pid) === started.get(pid));
  input.log.warn({ pids }, 'an app left behind by a previous run still runs; stopping it');
  const signal = (sig: NodeJS.Signals) => {
    for (const pid of running()) {
      try { process.kill(-pid, sig); } catch { try { process.kill(pid, sig); } catch { /* gone */ } }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + (input.graceMs ?? 10_000);
  while (Date.now() < deadline && running().length > 0) await sleep(100);
  signal('SIGKILL');
  return pids;
}
