// Shared by the integration tests: the built CLI run as a real process, a local S3 server
// over HTTP, free ports and waiting for URLs. Tests build on these, not on agent internals.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SourceConfig } from '../../agent/config.ts';
import { silentLogger } from '../../agent/log.ts';
import { createS3Client } from '../../agent/store/client.ts';
import { ObjectStore } from '../../agent/store/object-store.ts';
import { startLocalS3, LOCAL_S3_CREDENTIALS, type LocalS3 } from '../../support/local-s3.ts';
import { freePort } from '../../support/ports.ts';

export { freePort };
export const ROOT = resolve(import.meta.dirname, '../..');
export const HERD = join(ROOT, 'dist/herd.mjs');
/** The same CLI as one executable with Node inside: what ships onto instances. */
export const HERD_EXE = join(ROOT, 'dist/herd');
/** The local demo, built apart from the product: `npm run demo` runs it. */
export const DEMO = join(ROOT, 'dist/demo.mjs');
export const HELLO_APP = join(ROOT, 'examples/hello-app');
export const HELLO_CONFIG = join(ROOT, 'examples/hello-config');
/** A release that is no Node app: python3's http.server. */
export const STATIC_SITE = join(ROOT, 'examples/static-site');
export const S3_ENV = {
  AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
  AWS_REGION: 'us-east-1',
};

/** The machine's environment without AWS settings, so a test says exactly which it gives. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('AWS_') && !k.startsWith('HERD_')) env[k] = v;
  return { ...env, ...extra };
}

export interface RunResult { code: number; stdout: string; stderr: string }

/** Which build of the CLI a test starts: `node dist/herd.mjs` (default), or `executable`, dist/herd. */
export interface HerdBuild { executable?: boolean }

/** The program and the arguments before the command's own that start the CLI. */
function herdCommand(build: HerdBuild): [string, string[]] {
  return build.executable ? [HERD_EXE, []] : [process.execPath, [HERD]];
}

export function runHerd(args: string[], env: Record<string, string> = cleanEnv(S3_ENV), build: HerdBuild = {}): Promise<RunResult> {
  const [program, lead] = herdCommand(build);
  return runProgram(program, [...lead, ...args], env);
}

/** `node script ...args` as a real process; resolves when it exits, with all it printed. */
export function runScript(script: string, args: string[], env: Record<string, string>): Promise<RunResult> {
  return runProgram(process.execPath, [script, ...args], env);
}

/** `program ...args` as a real process; resolves when it exits, with all it printed. */
export function runProgram(program: string, args: string[], env: Record<string, string>): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(program, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code: code ?? -1, stdout, stderr }));
  });
}

export interface Workspace {
  dir: string;
  s3: LocalS3;
  bucket: string;
  storeFlags: string[];
  /** The workspace's store as a source config, prefix `herd`. */
  source: SourceConfig;
  /** An ObjectStore on it with s3rver's credentials, for reading and planting objects directly. */
  store(): ObjectStore;
  /** An S3 client on it with s3rver's credentials. */
  client(): S3Client;
  close(): Promise<void>;
}

export async function workspace(bucket = 'herd-test'): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), 'herd-it-'));
  const s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: [bucket] });
  const source: SourceConfig = { bucket, prefix: 'herd', endpoint: s3.endpoint, forcePathStyle: true };
  const client = () => createS3Client(source, LOCAL_S3_CREDENTIALS);
  return {
    dir, s3, bucket, source, client,
    storeFlags: ['--bucket', bucket, '--endpoint', s3.endpoint],
    store: () => new ObjectStore({ source, log: silentLogger(), client: client() }),
    async close() {
      await s3.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An agent as a real process; its JSON log lines are kept for assertions. */
export interface AgentProcess {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

export function startAgent(configFile: string, env: Record<string, string>, build: HerdBuild = {}): AgentProcess {
  const [program, lead] = herdCommand(build);
  const child = spawn(program, [...lead, 'agent', '--config', configFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try { lines.push(JSON.parse(line)); } catch { lines.push({ raw: line }); }
    }
  });
  child.stderr?.on('data', (d: Buffer) => lines.push({ stderr: d.toString() }));
  const exited = new Promise<number | null>((r) => child.once('exit', (code, signal) => {
    // An agent that ends by itself is a failure to see, whatever the test then waits for.
    if (!child.killed) console.error(`agent (${configFile}) exited by itself (${code ?? signal}); its last lines:\n${lines.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`);
    r(code);
  }));
  return {
    child, lines, exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export async function waitUntil<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

export async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  return { status: res.status, body: await res.text() };
}
