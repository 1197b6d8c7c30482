// The agent's idle memory: a real `herd agent` (static identity) serving a small release
// from the local store, left alone after it turns healthy; then the resident set of the
// agent process itself (not the app it supervises), next to a bare node process's.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { freePort, procStatusBytes, run, start, stopChild } from './procs.mjs';

/**
 * The ways the agent runs, as on an instance: `node <flags> herd.mjs`, with the node flags of
 * the bundle's shebang line (the systemd unit's too), and the single executable beside it
 * when it was built. Each: { label, command: [program, ...args], executable }.
 */
export function waysToRun(herdFile, seaFile = join(dirname(herdFile), 'herd')) {
  const flags = shebangFlags(herdFile);
  const ways = [{ label: `node ${[...flags, basename(herdFile)].join(' ')}`, command: [process.execPath, ...flags, herdFile], executable: null }];
  if (existsSync(seaFile)) ways.push({ label: `${basename(seaFile)} (single executable)`, command: [seaFile], executable: seaFile });
  return ways;
}

/** Node flags on a `#!/usr/bin/env -S node --flag ...` first line. */
export function shebangFlags(file) {
  const first = readFileSync(file, 'utf8').slice(0, 200).split('\n')[0];
  const m = /^#!\/usr\/bin\/env -S node\s+(.*)$/.exec(first);
  return m ? m[1].trim().split(/\s+/) : [];
}

/**
 * Drops `file`'s pages from the page cache (GNU dd's iflag=nocache), so an executable runs as
 * from disk on an instance. Just written (npm run build), its cached pages come in large
 * folios that the first touch maps whole: an empty single executable measured 58 MB RSS
 * then, 39 MB after this. Returns false when dd could not do it.
 */
export function dropPageCache(file) {
  return spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']).status === 0;
}

/**
 * input: { herdFile, env, endpoint, bucket, work, appDir, configDir, idleS, log }, and optionally
 * agentEnv (the agent's and the bare node's environment, default env), agentEndpoint (the
 * store as the agent reaches it, e.g. through tls-front.mjs; default endpoint), identity
 * (default a static one), herdCommand ([program, ...args] that runs herd, default node
 * herdFile) and inspect({ agent, bare }) (called with their pids once idle, before the RSS is read).
 * Publishes appDir/configDir as role `idle`, rolls it, runs the agent until healthy,
 * waits idleS seconds, and returns { agentRss, agentHwm, bareRss } in bytes.
 */
export async function measureAgentIdle(input) {
  const { herdFile, env, endpoint, bucket, work, log } = input;
  const agentEnv = input.agentEnv ?? env;
  const agentEndpoint = input.agentEndpoint ?? endpoint;
  const [program, ...programArgs] = input.herdCommand ?? [process.execPath, herdFile];
  await mkdir(work, { recursive: true });
  const store = ['--bucket', bucket, '--endpoint', endpoint];
  const herd = (args) => run(program, [...programArgs, ...args], { env });
  await herd(['publish', ...store, '--role', 'idle', '--code', input.appDir, '--config', input.configDir, '--release', 'hello-1', '--json']);
  await herd(['roll', ...store, '--role', 'idle', '--release', 'hello-1', '--json']);

  const [healthPort, appPort] = [await freePort(), await freePort()];
  const configFile = join(work, 'agent.json');
  await writeFile(configFile, JSON.stringify({
    sources: [{ bucket, prefix: 'herd', endpoint: agentEndpoint, forcePathStyle: true }],
    dataDir: join(work, 'agent-data'), healthPort, healthHost: '127.0.0.1', appPort, appUser: null,
    identity: input.identity ?? { provider: 'static', instanceId: 'i-bench', role: 'idle', az: 'local-1a', region: 'local' },
  }));
  const agent = start(program, [...programArgs, 'agent', '--config', configFile], { env: agentEnv });
  const bare = start(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { env: agentEnv });
  try {
    await untilHealthy(agent, `http://127.0.0.1:${healthPort}/healthz`, 60_000);
    log(`agent healthy; idling ${input.idleS} s`);
    await new Promise((r) => setTimeout(r, input.idleS * 1000));
    await input.inspect?.({ agent: agent.child.pid, bare: bare.child.pid });
    return {
      agentRss: await procStatusBytes(agent.child.pid, 'VmRSS'),
      agentHwm: await procStatusBytes(agent.child.pid, 'VmHWM'),
      bareRss: await procStatusBytes(bare.child.pid, 'VmRSS'),
    };
  } finally {
    // SIGTERM to the agent alone: it stops its app itself, as under systemd.
    await Promise.all([stopChild(agent.child, 20_000, { group: false }), stopChild(bare.child)]);
  }
}

async function untilHealthy(agent, url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (agent.child.exitCode !== null || agent.child.signalCode !== null) {
      const { code, signal, stdout } = await agent.exited;
      throw new Error(`the agent exited (${signal ?? `code ${code}`}) before turning healthy:\n${stdout.slice(-2000)}`);
    }
    const ok = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`the agent did not turn healthy within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
