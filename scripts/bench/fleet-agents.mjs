// The fleet for the convergence benchmark: N agents as real processes (the built CLI), each
// with a static identity, its own data dir, health and app ports, and its own counting proxy
// as its only source. Also what the machine sees of them: VmRSS and CPU time from /proc,
// for the agents and, separately, for the apps they run.
import { readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePorts } from '../../support/ports.ts';
import { start, stopChild } from './procs.mjs';
import { startCountingProxy } from './fleet-proxy.mjs';

/**
 * Starts `count` agents on `role`. Each gets a proxy to `s3Endpoint` and a config file in
 * `work`; `settings` holds pollIntervalS, drainS and reportHeartbeatS. Returns the agents (id, child, ports,
 * proxy); they are not yet healthy.
 */
export async function startFleet({ count, role, work, bucket, s3Endpoint, herd, env, settings }) {
  const ports = await freePorts(2 * count);
  const agents = [];
  for (let i = 0; i < count; i++) {
    const id = `i-fleet${String(i).padStart(3, '0')}`;
    const proxy = await startCountingProxy({ target: s3Endpoint, name: id });
    const agent = {
      id, proxy, appPids: new Set(), restarts: 0, healthPort: ports[2 * i], appPort: ports[2 * i + 1],
      spec: { configFile: join(work, `${id}.json`), dataDir: join(work, 'agents', id), role, bucket, herd, env, settings, az: `zone-${'abc'[i % 3]}` },
    };
    await spawnAgent(agent);
    agents.push(agent);
  }
  return agents;
}

/** (Re)writes the agent's config with its current ports and starts it. */
async function spawnAgent(agent) {
  const { configFile, dataDir, role, bucket, herd, env, settings, az } = agent.spec;
  await writeFile(configFile, JSON.stringify({
    sources: [{ bucket, prefix: 'herd', endpoint: agent.proxy.endpoint, forcePathStyle: true }],
    dataDir, healthPort: agent.healthPort, healthHost: '127.0.0.1', appPort: agent.appPort, appUser: null,
    pollIntervalS: settings.pollIntervalS, drainS: settings.drainS,
    ...(settings.reportHeartbeatS === undefined ? {} : { reportHeartbeatS: settings.reportHeartbeatS }),
    identity: { provider: 'static', instanceId: agent.id, role, az, region: 'local' },
  }));
  const proc = start(process.execPath, [herd, 'agent', '--config', configFile], { env });
  agent.child = proc.child;
  agent.exited = proc.exited;
  agent.output = proc.output;
}

/**
 * Another program on this machine may take a port between freePorts() and the agent's
 * listen: an agent that exits at boot saying so starts again on new ports (twice at most).
 */
async function restartIfPortTaken(agent) {
  const out = await agent.exited;
  if (agent.restarts >= 2 || !/already in use/i.test(out.stdout + out.stderr)) return false;
  agent.restarts += 1;
  [agent.healthPort, agent.appPort] = await freePorts(2);
  await spawnAgent(agent);
  return true;
}

/**
 * The same race for the app's port: its app exits at boot with EADDRINUSE and the agent marks
 * the release failed (and does not retry it), so the agent starts again from an empty data dir
 * on new ports (twice at most).
 */
async function restartIfAppPortTaken(agent, status) {
  if (agent.restarts >= 2 || status?.state !== 'failed' || !/EADDRINUSE/.test(agent.output().stdout)) return false;
  agent.restarts += 1;
  await stopChild(agent.child, 20_000);
  await rm(agent.spec.dataDir, { recursive: true, force: true });
  [agent.healthPort, agent.appPort] = await freePorts(2);
  await spawnAgent(agent);
  return true;
}

/** The agent's /status, or null when it does not answer within `timeoutMs`. */
export async function readStatus(agent, timeoutMs = 1_000) {
  try {
    const res = await fetch(`http://127.0.0.1:${agent.healthPort}/status`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? await res.json() : null;
  } catch {
    return null;
  }
}

/** The agent's own view of its memory from /metrics (prom-client's default gauges), in bytes; null when unreadable. */
export async function readHeap(agent) {
  try {
    const res = await fetch(`http://127.0.0.1:${agent.healthPort}/metrics`, { signal: AbortSignal.timeout(2_000) });
    const text = await res.text();
    const gauge = (name) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm').exec(text)?.[1] ?? NaN);
    return { heapUsed: gauge('nodejs_heap_size_used_bytes'), heapTotal: gauge('nodejs_heap_size_total_bytes'), external: gauge('nodejs_external_memory_bytes') };
  } catch {
    return null;
  }
}

/** Resolves when every agent runs `release` healthy; rejects naming the laggards after `timeoutMs` or when one exits. */
export async function waitFleetOn(agents, release, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const statuses = await Promise.all(agents.map((a) => readStatus(a)));
    const dead = agents.find((a) => a.child.exitCode !== null || a.child.signalCode !== null);
    if (dead && await restartIfPortTaken(dead)) {
      process.stderr.write(`bench-fleet: ${dead.id} found a port taken at boot; started again on new ports\n`);
      continue;
    }
    if (dead) {
      const out = await dead.exited;
      throw new Error(`agent ${dead.id} exited (${dead.child.signalCode ?? `code ${dead.child.exitCode}`}):\n${out.stdout.slice(-2000)}${out.stderr.slice(-2000)}`);
    }
    const refused = agents.find((a, i) => statuses[i]?.state === 'failed' && /EADDRINUSE/.test(a.output().stdout));
    if (refused && await restartIfAppPortTaken(refused, statuses[agents.indexOf(refused)])) {
      process.stderr.write(`bench-fleet: ${refused.id}'s app found its port taken at boot; started again on new ports\n`);
      continue;
    }
    const behind = agents.filter((a, i) => !(statuses[i]?.healthy && statuses[i]?.release === release));
    if (behind.length === 0) return statuses;
    if (performance.now() > deadline) {
      const what = behind.slice(0, 5).map((a) => {
        const s = statuses[agents.indexOf(a)];
        return `${a.id}: ${s ? `${s.state} on ${s.release}${s.lastError ? ` (${s.lastError})` : ''}` : 'no answer'}`;
      });
      throw new Error(`${behind.length} of ${agents.length} agents not healthy on ${release} after ${timeoutMs / 1000} s: ${what.join('; ')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Every descendant pid of `pid` (children of all its threads, recursively). */
async function descendants(pid) {
  const out = [];
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => []);
  for (const task of tasks) {
    const text = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '');
    for (const child of text.split(/\s+/).filter(Boolean).map(Number)) out.push(child, ...(await descendants(child)));
  }
  return out;
}

/** VmRSS, its private (RssAnon) and file-backed (RssFile, shared with other node processes) parts, VmHWM, and CPU ticks. */
export async function procNumbers(pid) {
  try {
    const [status, stat] = await Promise.all([readFile(`/proc/${pid}/status`, 'utf8'), readFile(`/proc/${pid}/stat`, 'utf8')]);
    const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile'), hwm: kb('VmHWM'), cpuTicks: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return null;
  }
}

/**
 * One look at the machine: per agent its RSS, peak RSS and CPU ticks, and the sum of RSS of
 * its descendants (the app). App pids are remembered on the agent, for cleanup.
 */
export async function sampleProcs(agents) {
  return Promise.all(agents.map(async (agent) => {
    const self = await procNumbers(agent.child.pid);
    let appRss = 0;
    for (const pid of await descendants(agent.child.pid)) {
      agent.appPids.add(pid);
      appRss += (await procNumbers(pid))?.rss ?? 0;
    }
    return { id: agent.id, rss: self?.rss ?? 0, anon: self?.anon ?? 0, file: self?.file ?? 0, hwm: self?.hwm ?? 0, cpuTicks: self?.cpuTicks ?? 0, appRss };
  }));
}

/**
 * Stops every agent (SIGTERM to the agent, which stops its app; SIGKILL to its group after
 * `graceMs`), then SIGKILLs any app the agent left behind: only pids seen as its descendants
 * that still run server.mjs from under `work`.
 */
export async function stopFleet(agents, work, graceMs = 15_000) {
  await Promise.all(agents.map((a) => stopChild(a.child, graceMs, { group: false })));
  for (const pid of agents.flatMap((a) => [...a.appPids])) {
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => null);
    if (cwd?.startsWith(work)) {
      try { process.kill(-pid, 'SIGKILL'); } catch { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    }
  }
  await Promise.all(agents.map((a) => a.proxy.close()));
}
