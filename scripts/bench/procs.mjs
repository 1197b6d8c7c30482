// Child processes for the benchmark: each runs in its own process group so a whole
// pipeline (bash, curl, tee, tar, gzip) can be stopped at once, is tracked until it
// exits, and is timed from spawn to exit. Peak RSS comes from GNU time's %M (KiB),
// which reports the largest resident set of the process and its waited-for children.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';

const GNU_TIME = '/usr/bin/time';
export const HAVE_GNU_TIME = existsSync(GNU_TIME);

const live = new Set();

/** Stop every child still running (SIGTERM to its group, SIGKILL after `graceMs`). */
export async function stopAll(graceMs = 5_000) {
  await Promise.all([...live].map((child) => stopChild(child, graceMs)));
}

/**
 * SIGTERM, then SIGKILL after `graceMs`. `group: false` signals only the process itself
 * (a supervisor that stops its own children gracefully); SIGKILL always takes the group.
 */
export async function stopChild(child, graceMs = 20_000, { group = true } = {}) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  if (group) signalGroup(child, 'SIGTERM');
  else child.kill('SIGTERM');
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    try { child.kill(signal); } catch { /* already gone */ }
  }
}

/** Spawn in a new process group, tracked for stopAll(); output is collected. */
export function start(cmd, args, { env = process.env, cwd } = {}) {
  const child = spawn(cmd, args, { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => { out.stdout += d; });
  child.stderr.on('data', (d) => { out.stderr += d; });
  const exited = new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal, ...out });
    });
  });
  return { child, exited, output: () => out };
}

/**
 * Run to completion and measure: wall seconds (spawn to exit, as a user would see it)
 * and peak RSS in bytes (null without GNU time). Rejects when the command fails.
 */
export async function measure(cmd, args, { env, rssFile } = {}) {
  const wrapped = HAVE_GNU_TIME && rssFile ? [GNU_TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args];
  const started = performance.now();
  const { exited } = start(wrapped[0], wrapped[1], { env });
  const result = await exited;
  const seconds = (performance.now() - started) / 1000;
  if (result.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${result.signal ?? `exit ${result.code}`}):\n${result.stderr.slice(-2000)}`);
  }
  let peakRss = null;
  if (HAVE_GNU_TIME && rssFile) {
    const text = await readFile(rssFile, 'utf8');
    const kib = Number(text.trim().split('\n').at(-1));
    peakRss = Number.isFinite(kib) ? kib * 1024 : null;
    await rm(rssFile, { force: true });
  }
  return { seconds, peakRss, stdout: result.stdout, stderr: result.stderr };
}

/** Run to completion; returns stdout, throws with stderr on failure. */
export async function run(cmd, args, opts) {
  const { exited } = start(cmd, args, opts);
  const result = await exited;
  if (result.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${result.code}):\n${result.stderr.slice(-2000)}`);
  return result.stdout;
}

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM), or null when unreadable. */
export async function procStatusBytes(pid, field) {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
