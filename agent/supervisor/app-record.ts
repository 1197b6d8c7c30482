// Which app process this agent runs, on disk, so the next run can stop an app that a
// SIGKILLed agent left behind (its own process group keeps it alive and on the app port).
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Logger } from '../log.ts';
import { sleep } from '../clock.ts';

function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
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

/** Stops the app a previous run recorded, if that very process (pid and start time) still runs. */
export async function reapLeftoverApp(input: { file: string; log: Logger; graceMs?: number }): Promise<number | null> {
  let text: string;
  try { text = readFileSync(input.file, 'utf8'); } catch { return null; }
  forgetApp(input.file);
  const [pidText, started] = text.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 1 || startTimeOf(pid) !== started) return null;
  input.log.warn({ pid }, 'an app left behind by a previous run still runs; stopping it');
  const signal = (sig: NodeJS.Signals) => { try { process.kill(-pid, sig); } catch { /* gone */ } };
  signal('SIGTERM');
  const deadline = Date.now() + (input.graceMs ?? 10_000);
  while (Date.now() < deadline && startTimeOf(pid) === started) await sleep(100);
  if (startTimeOf(pid) === started) signal('SIGKILL');
  return pid;
}
