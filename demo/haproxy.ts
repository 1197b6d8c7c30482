// HAProxy as the demo's load balancer: a generated config, run in the foreground as a
// child, and its view of the servers read from its stats socket.
import { execFile } from 'node:child_process';
import { access, constants, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HerdError } from '../agent/errors.ts';
import type { BalancedServer, Balancer, HealthCheck } from './balancer.ts';
import { spawnChild } from './children.ts';

const run = promisify(execFile);
const BACKEND = 'fleet';

/** The first executable `haproxy` in `dirs`, or null. */
export async function findHaproxy(dirs: string[]): Promise<string | null> {
  for (const dir of dirs) {
    const candidate = join(dir, 'haproxy');
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
  }
  return null;
}

/**
 * Pure: the config. Health checks go to each instance's health port; a request that meets
 * a refused or dropped connection (an instance stopping) is retried on another server, so
 * a rolling release costs no failed requests.
 */
export function haproxyConfig(input: { port: number; statsSocket: string; servers: BalancedServer[]; check: HealthCheck }): string {
  const { interMs, fall, rise, timeoutMs, path } = input.check;
  return [
    'global',
    '  nbthread 1',
    '  maxconn 512',
    `  stats socket ${input.statsSocket} mode 600 level user`,
    '',
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 30s',
    '  timeout server 10s',
    '  timeout http-request 10s',
    '  timeout http-keep-alive 2s',
    `  timeout check ${timeoutMs}ms`,
    '  retries 3',
    '  option redispatch 1',
    '  retry-on conn-failure empty-response response-timeout',
    '',
    'frontend demo',
    `  bind 127.0.0.1:${input.port}`,
    `  default_backend ${BACKEND}`,
    '',
    `backend ${BACKEND}`,
    '  balance roundrobin',
    `  option httpchk GET ${path}`,
    '  http-check expect status 200',
    `  default-server inter ${interMs}ms fall ${fall} rise ${rise}`,
    ...input.servers.map((s) => `  server ${s.name} 127.0.0.1:${s.appPort} check port ${s.healthPort}`),
    '',
  ].join('\n');
}

/** Pure: `show stat` CSV as one object per row, keyed by column name. */
export function parseStat(csv: string): Array<Record<string, string>> {
  const [header, ...rows] = csv.trim().split('\n');
  const columns = (header ?? '').replace(/^#\s*/, '').split(',');
  return rows.filter((r) => r.trim()).map((row) => {
    const cells = row.split(',');
    return Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? '']));
  });
}

/** Pure: server name → status ("UP", "DOWN", "UP 1/2"...) of the demo's backend. */
export function serverStatesOf(rows: Array<Record<string, string>>, backend = BACKEND): Record<string, string> {
  const states: Record<string, string> = {};
  for (const row of rows) {
    if (row.pxname === backend && row.svname && row.svname !== 'BACKEND') states[row.svname] = row.status ?? '?';
  }
  return states;
}

/** Pure: requests the backend retried (wretr) and sent to another server (wredis). */
export function retriesOf(rows: Array<Record<string, string>>, backend = BACKEND): { retried: number; redispatched: number } {
  const row = rows.find((r) => r.pxname === backend && r.svname === 'BACKEND');
  return { retried: Number(row?.wretr) || 0, redispatched: Number(row?.wredis) || 0 };
}

export async function haproxyVersion(bin: string): Promise<string> {
  const { stdout } = await run(bin, ['-v']);
  return /version (\S+)/.exec(stdout)?.[1]?.replace(/-.*$/, '') ?? 'unknown';
}

export interface HaproxyInput { bin: string; dir: string; port: number; servers: BalancedServer[]; check: HealthCheck; env: Record<string, string> }

export async function startHaproxy(input: HaproxyInput): Promise<Balancer> {
  const configFile = join(input.dir, 'haproxy.cfg');
  const statsSocket = join(input.dir, 'haproxy.sock');
  await writeFile(configFile, haproxyConfig({ port: input.port, statsSocket, servers: input.servers, check: input.check }));
  // Check first: a config error is then a clear message rather than an exited child.
  await run(input.bin, ['-c', '-q', '-f', configFile]).catch((err: { stderr?: string; message: string }) => {
    throw new HerdError(`config check failed: ${(err.stderr ?? err.message).trim()}`);
  });
  const version = await haproxyVersion(input.bin);
  const child = spawnChild({ name: 'haproxy', command: input.bin, args: ['-db', '-f', configFile], env: input.env, logFile: join(input.dir, 'haproxy.log') });
  const stat = async () => parseStat(await statsQuery(statsSocket, 'show stat'));
  const serverStates = async () => serverStatesOf(await stat());
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (!child.running()) throw new HerdError(`it exited (${await child.exited}): ${await child.tail(5)}`);
    if (await serverStates().then((s) => Object.keys(s).length === input.servers.length, () => false)) break;
    if (Date.now() > deadline) {
      await child.stop({ timeoutMs: 2_000 });
      throw new HerdError(`its stats socket did not answer within 10 s: ${await child.tail(5)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    kind: 'haproxy',
    description: `HAProxy ${version}`,
    url: `http://127.0.0.1:${input.port}`,
    pid: child.pid,
    serverStates,
    retries: async () => retriesOf(await stat()),
    stop: () => child.stop({ timeoutMs: 5_000 }),
  };
}

/** One command on HAProxy's stats socket; it answers and closes. */
function statsQuery(socketPath: string, command: string): Promise<string> {
  return new Promise((resolveQuery, reject) => {
    const socket = connect(socketPath);
    let text = '';
    socket.setTimeout(2_000, () => socket.destroy(new Error('stats socket timed out')));
    socket.once('connect', () => socket.write(`${command}\n`));
    socket.on('data', (d: Buffer) => { text += d; });
    socket.once('error', reject);
    socket.once('close', () => resolveQuery(text));
  });
}
