// herd demo: the whole loop on one machine with nothing to set up: a local S3 store, the
// sample app published and rolled, and an agent (a real child process, static identity)
// that fetches, verifies and serves it. Stops cleanly on Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HerdError } from '../errors.ts';
import { silentLogger } from '../log.ts';
import { createS3Client } from '../store/client.ts';
import { ObjectStore } from '../store/object-store.ts';
import { LOCAL_S3_CREDENTIALS, startLocalS3 } from './local-s3.ts';
import { actor, type Output } from './output.ts';
import { publish } from './publish.ts';
import { roll } from './roll.ts';

export interface DemoInput {
  out: Output;
  exitAfterS?: number;
  /** The herd CLI to start agents with; default: this very script. */
  herdScript?: string;
}

const BUCKET = 'herd-demo';
const ROLE = 'web';

export async function runDemo(input: DemoInput): Promise<void> {
  const { out } = input;
  const herdScript = input.herdScript ?? process.argv[1] ?? '';
  const examples = findUp(dirname(fileURLToPath(import.meta.url)), 'examples/hello-app');
  const root = await mkdtemp(join(tmpdir(), 'herd-demo-'));
  const cleanups: Array<() => Promise<void>> = [async () => rm(root, { recursive: true, force: true })];
  const cleanup = async () => { for (const fn of cleanups.reverse()) await fn().catch(() => {}); };
  try {
    const s3 = await startLocalS3({ directory: join(root, 's3'), buckets: [BUCKET] });
    cleanups.push(() => s3.close());
    out.info(`local S3 store at ${s3.endpoint} (bucket ${BUCKET})`);

    const source = { bucket: BUCKET, prefix: 'herd', endpoint: s3.endpoint, forcePathStyle: true };
    const log = silentLogger();
    const store = new ObjectStore({ source, log, client: createS3Client(source, LOCAL_S3_CREDENTIALS) });
    const published = await publish({
      store, role: ROLE, code: examples, config: join(examples, '..', 'hello-config'), release: 'hello-1', out, log,
    });
    out.info(`published ${ROLE}/${published.release} (code ${published.code.digest.slice(0, 19)}…, ${published.code.size} bytes)`);
    await roll({ store, role: ROLE, release: published.release, actor: actor(), log });
    out.info(`rolled channel ${ROLE} -> ${published.release}`);

    const [healthPort, appPort] = [await freePort(), await freePort()];
    const dataDir = join(root, 'instance-a');
    const configFile = join(root, 'agent-a.json');
    await writeFile(configFile, JSON.stringify({
      sources: [source], dataDir, healthPort, healthHost: '127.0.0.1', appPort, appUser: null, pollIntervalS: 2, drainS: 2,
      identity: { provider: 'static', instanceId: 'i-demo-a', role: ROLE, az: 'local-1a', region: 'local' },
    }, null, 2));
    const logFile = join(root, 'agent-a.log');
    const agent = startAgent(herdScript, configFile, logFile);
    cleanups.push(() => stopChild(agent));
    out.info(`agent i-demo-a starting (log: ${logFile})`);

    const health = `http://127.0.0.1:${healthPort}`;
    await waitFor(`${health}/healthz`, 60_000, agent);
    const app = `http://127.0.0.1:${appPort}/`;
    const answer = await (await fetch(app)).text();
    out.result([
      '',
      `  herd demo: instance i-demo-a (role ${ROLE}, zone local-1a) runs release ${published.release}`,
      `  app:      ${app}   -> ${answer.trim()}`,
      `  healthz:  ${health}/healthz`,
      `  status:   ${health}/status`,
      `  metrics:  ${health}/metrics`,
      `  store:    ${s3.endpoint}/${BUCKET}/herd/   data: ${dataDir}`,
      '',
      input.exitAfterS !== undefined ? `  stopping by itself in ${input.exitAfterS} s` : '  Ctrl-C to stop and clean up',
    ].join('\n'), { app, healthz: `${health}/healthz`, status: `${health}/status`, metrics: `${health}/metrics`, release: published.release, s3: s3.endpoint, dataDir, answer: JSON.parse(answer) });

    await untilStopped(input.exitAfterS, agent);
    out.info('stopping: agent, app and local store');
  } finally {
    await cleanup();
  }
}

function startAgent(herdScript: string, configFile: string, logFile: string): ChildProcess {
  const logStream = createWriteStream(logFile);
  const child = spawn(process.execPath, [herdScript, 'agent', '--config', configFile], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(logStream);
  child.stderr?.pipe(logStream);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

async function waitFor(url: string, timeoutMs: number, agent: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (agent.exitCode !== null) throw new HerdError(`the demo agent exited with code ${agent.exitCode}; see its log`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new HerdError(`${url} did not turn healthy within ${timeoutMs / 1000} s`);
}

function untilStopped(exitAfterS: number | undefined, agent: ChildProcess): Promise<void> {
  return new Promise((resolveStop) => {
    const done = () => resolveStop();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    agent.once('exit', done);
    if (exitAfterS !== undefined) setTimeout(done, exitAfterS * 1000);
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** The sample app ships with the project; found from dist/ or from source. */
function findUp(from: string, rel: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = resolve(dir, rel);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new HerdError(`cannot find ${rel}: herd demo runs from a checkout of the herd project`);
  }
}
