// Least privilege, with the built CLI and real agents: the policies `herd iam-policy` prints
// are enough for every command and an agent, and refuse the rest (enforced by an S3 proxy
// that evaluates them as IAM would, 403 for a missing key included); the app runs as
// appUser when the agent is root; and no credential or token reaches a log line.
import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyDocument } from '../../agent/commands/iam-policy.ts';
import { LOCAL_S3_CREDENTIALS } from '../../support/local-s3.ts';
import { createS3Client } from '../../agent/store/client.ts';
import { startImdsServer, type ImdsServer } from '../fixtures/imds-server.ts';
import {
  HELLO_APP, HELLO_CONFIG, ROOT, S3_ENV, cleanEnv, freePort, get, runHerd, startAgent, waitUntil, workspace,
  type AgentProcess, type RunResult, type Workspace,
} from '../helpers/harness.ts';

// ---- an S3 front that enforces an IAM policy -------------------------------------------

interface S3Op { action: string; bucket: string; key: string | null; context: Record<string, string | undefined> }
interface Decision extends S3Op { method: string; allowed: boolean }

/** IAM wildcards: '*' any run of characters, '?' one. */
function glob(pattern: string, value: string): boolean {
  const re = pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/]/g, '\\$&'))).join('');
  return new RegExp(`^${re}$`).test(value);
}

/** The IAM action a path-style S3 request is authorized as (per the S3 API reference). */
function operationOf(req: IncomingMessage): S3Op {
  const url = new URL(req.url ?? '/', 'http://s3');
  const [bucket = '', ...rest] = url.pathname.slice(1).split('/');
  const key = rest.length ? decodeURIComponent(rest.join('/')) : null;
  const q = url.searchParams;
  q.delete('x-id'); // the SDK names the operation in the query; S3 ignores it
  const h = (name: string) => req.headers[name] as string | undefined;
  const method = req.method ?? 'GET';
  const context = { 's3:if-none-match': h('if-none-match'), 's3:if-match': h('if-match') };
  if (key === null || key === '') {
    if ((method === 'GET' || method === 'HEAD') && [...q.keys()].every((k) => ['list-type', 'prefix', 'continuation-token', 'delimiter', 'max-keys', 'encoding-type', 'start-after'].includes(k))) {
      return { action: 's3:ListBucket', bucket, key: null, context: { 's3:prefix': q.get('prefix') ?? undefined } };
    }
    return { action: `unmapped:${method} bucket?${[...q.keys()].join('&')}`, bucket, key: null, context: {} };
  }
  const object = (action: string, ctx: S3Op['context'] = {}): S3Op => ({ action, bucket, key, context: ctx });
  if ((method === 'GET' || method === 'HEAD') && [...q.keys()].length === 0) return object('s3:GetObject');
  if (method === 'GET' && q.has('uploadId')) return object('s3:ListMultipartUploadParts');
  if (method === 'PUT' && h('x-amz-copy-source')) return object('unmapped:CopyObject');
  if (method === 'PUT' && (q.size === 0 || (q.has('partNumber') && q.has('uploadId')))) return object('s3:PutObject', context);
  if (method === 'POST' && (q.has('uploads') || q.has('uploadId'))) return object('s3:PutObject', context);
  if (method === 'DELETE' && q.has('uploadId')) return object('s3:AbortMultipartUpload');
  if (method === 'DELETE' && q.size === 0) return object('s3:DeleteObject');
  return object(`unmapped:${method} ?${[...q.keys()].join('&')}`);
}

function conditionsHold(condition: PolicyDocument['Statement'][number]['Condition'], context: S3Op['context']): boolean {
  for (const [operator, entries] of Object.entries(condition ?? {})) {
    for (const [name, want] of Object.entries(entries)) {
      const values = [want].flat();
      const have = context[name];
      if (operator === 'StringLike') {
        if (have === undefined || !values.some((v) => glob(v, have))) return false;
      } else if (operator === 'Null') {
        if ((have === undefined) !== (values[0] === 'true')) return false;
      } else {
        return false; // an operator this evaluator does not know never grants
      }
    }
  }
  return true;
}

function allowed(policy: PolicyDocument, op: S3Op): boolean {
  const arn = op.key === null ? `arn:aws:s3:::${op.bucket}` : `arn:aws:s3:::${op.bucket}/${op.key}`;
  return policy.Statement.some((s) => s.Effect === 'Allow' && s.Action.includes(op.action)
    && s.Resource.some((r) => glob(r, arn)) && conditionsHold(s.Condition, op.context));
}

function accessDenied(res: ServerResponse, method: string | undefined): void {
  res.writeHead(403, { 'content-type': 'application/xml' });
  res.end(method === 'HEAD' ? undefined : '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
}

interface EnforcingProxy { url: string; decisions: Decision[]; close(): Promise<void> }

/** Forwards to `upstream` what `policy` allows; 403 otherwise. Like S3, a missing key answers
 *  404 only to a caller that may list it (s3:ListBucket with the key as s3:prefix), else 403. */
async function enforcingProxy(upstream: string, policy: PolicyDocument): Promise<EnforcingProxy> {
  const decisions: Decision[] = [];
  const server = createServer((req, res) => {
    const op = operationOf(req);
    const ok = allowed(policy, op);
    decisions.push({ ...op, method: req.method ?? '', allowed: ok });
    if (!ok) {
      req.resume();
      accessDenied(res, req.method);
      return;
    }
    const up = request(`${upstream}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      const listable = op.key !== null && allowed(policy, { action: 's3:ListBucket', bucket: op.bucket, key: null, context: { 's3:prefix': op.key } });
      if (answer.statusCode === 404 && op.action === 's3:GetObject' && !listable) {
        answer.resume();
        accessDenied(res, req.method);
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    decisions,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

async function policiesFor(bucket: string, role: string): Promise<{ instance: PolicyDocument; publisher: PolicyDocument }> {
  const printed = await runHerd(['iam-policy', '--bucket', bucket, '--role', role, '--json']);
  expect(printed.stderr).toBe('');
  expect(printed.code).toBe(0);
  return JSON.parse(printed.stdout);
}

async function writeApp(dir: string, files: Record<string, string>): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

const denied = (p: EnforcingProxy) => p.decisions.filter((d) => !d.allowed);

// ---- the command ------------------------------------------------------------------------

describe('herd iam-policy', () => {
  it('prints both policies for people, and {instance, publisher} with --json', async () => {
    const human = await runHerd(['iam-policy', '--bucket', 'fleet-bucket', '--prefix', 'team/herd', '--role', 'web']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^# Instance policy: for the instance profile of role web\./);
    expect(human.stdout).toContain('"arn:aws:s3:::fleet-bucket/team/herd/roles/web/instances/*.json"');
    expect(human.stdout).toContain('# Publisher policy:');
    const json = await runHerd(['iam-policy', '--bucket', 'fleet-bucket', '--role', 'web', '--which', 'instance', '--no-describe-tags', '--json']);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout);
    expect(Object.keys(doc)).toEqual(['instance']);
    expect(doc.instance.Version).toBe('2012-10-17');
    expect(JSON.stringify(doc)).not.toContain('ec2:DescribeTags');
  });

  it('exits 2 naming the bad flag', async () => {
    const cases: Array<[string[], string]> = [
      [['--bucket', 'Fleet_Bucket', '--role', 'web'], '--bucket "Fleet_Bucket" is not a bucket name'],
      [['--bucket', 'fleet-bucket', '--role', '../web'], '--role "../web" is not a role'],
      [['--bucket', 'fleet-bucket', '--role', 'web', '--which', 'admin'], '--which "admin" is not a policy choice: instance, publisher, both, image or all'],
      [['--bucket', 'fleet-bucket', '--role', 'web', '--prefix', 'a*'], '--prefix "a*" is not a key prefix'],
    ];
    for (const [args, message] of cases) {
      const { code, stderr, stdout } = await runHerd(['iam-policy', ...args]);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toContain(message);
      expect(stdout).toBe('');
    }
    expect((await runHerd(['iam-policy', '--bucket', 'fleet-bucket'])).code).toBe(2);
  });
});

// ---- the policies, enforced -------------------------------------------------------------

describe('the printed policies are enough, and no more, for the CLI and an agent', () => {
  let ws: Workspace;
  let publisher: EnforcingProxy;
  let instance: EnforcingProxy;
  let agent: AgentProcess;
  let healthPort: number;
  let asInstance: S3Client;
  let asPublisher: S3Client;
  let trustedKey: string;
  let signKey: string;
  const herd = (...args: string[]): Promise<RunResult> =>
    runHerd([args[0] as string, '--bucket', ws.bucket, '--endpoint', publisher.url, ...args.slice(1)]);

  beforeAll(async () => {
    ws = await workspace('least-privilege');
    const policies = await policiesFor(ws.bucket, 'web');
    publisher = await enforcingProxy(ws.s3.endpoint, policies.publisher);
    instance = await enforcingProxy(ws.s3.endpoint, policies.instance);
    const client = (endpoint: string) => createS3Client({ bucket: ws.bucket, prefix: 'herd', endpoint, forcePathStyle: true }, LOCAL_S3_CREDENTIALS);
    asInstance = client(instance.url);
    asPublisher = client(publisher.url);
    const keys = await runHerd(['keygen', '--out', ws.dir, '--json']);
    expect(keys.code, keys.stderr).toBe(0);
    ({ trustedKey, private: signKey } = JSON.parse(keys.stdout));
  });

  afterAll(async () => {
    await agent?.stop();
    await publisher?.close();
    await instance?.close();
    await ws?.close();
  });

  it('publish (signed, multipart included), roll, pause, resume and pull work under the publisher policy', async () => {
    const signed = ['--role', 'web', '--code', HELLO_APP, '--config', HELLO_CONFIG, '--release', 'v1', '--sign-key', signKey];
    const published = await herd('publish', ...signed);
    expect(published.stderr).not.toMatch(/denied|403/i);
    expect(published.code).toBe(0);
    expect((await herd('publish', ...signed)).code).toBe(0);
    expect(publisher.decisions.some((d) => d.action === 's3:PutObject' && d.key === 'herd/roles/web/releases/v1.json.sig')).toBe(true);

    // Over the 16 MiB part size: lib-storage uploads it in parts.
    const big = await writeApp(join(ws.dir, 'big-app'), { 'herd.json': JSON.stringify({ command: ['node', 'x.mjs'], port: 1, health: { path: '/' } }) });
    await writeFile(join(big, 'noise.bin'), randomBytes(17 * 1024 * 1024));
    const multipart = await herd('publish', '--role', 'web', '--code', big, '--release', 'big');
    expect(multipart.stderr).not.toMatch(/denied|403/i);
    expect(multipart.code).toBe(0);
    expect(publisher.decisions.some((d) => d.method === 'POST' && d.allowed)).toBe(true);

    for (const args of [['roll', '--release', 'v1'], ['pause'], ['resume'], ['resign', '--expires-in', '8d']]) {
      const result = await herd(args[0] as string, '--role', 'web', '--sign-key', signKey, ...args.slice(1));
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    }
    expect(publisher.decisions.some((d) => d.action === 's3:PutObject' && d.key === 'herd/roles/web/channel.json.sig' && d.allowed)).toBe(true);
    const pulled = await herd('pull', '--role', 'web', '--data-dir', join(ws.dir, 'baked'), '--json');
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(JSON.parse(pulled.stdout)).toMatchObject({ release: 'v1', fetched: true });
    expect(denied(publisher)).toEqual([]);
  });

  it('an agent runs and reports under the instance policy, and status reads its report', async () => {
    [healthPort] = [await freePort()];
    const configFile = join(ws.dir, 'agent.json');
    await writeFile(configFile, JSON.stringify({
      sources: [{ bucket: ws.bucket, endpoint: instance.url }],
      dataDir: join(ws.dir, 'data'), healthPort, healthHost: '127.0.0.1', appPort: await freePort(), appUser: null,
      pollIntervalS: 0.5, drainS: 0, trustedKeys: [trustedKey],
      identity: { provider: 'static', instanceId: 'i-0least', role: 'web', az: 'z1', region: 'r1' },
    }));
    agent = startAgent(configFile, cleanEnv(S3_ENV));
    await waitUntil('/healthz 200', async () => (await get(`http://127.0.0.1:${healthPort}/healthz`)).status === 200, 45_000);
    const fleet = await waitUntil('the report in status', async () => {
      const status = await herd('status', '--role', 'web', '--json');
      const doc = status.code === 0 ? JSON.parse(status.stdout) : null;
      return JSON.stringify(doc).includes('i-0least') ? doc : undefined;
    });
    expect(JSON.stringify(fleet)).toContain('"release":"v1"');
    expect(instance.decisions.some((d) => d.action === 's3:PutObject' && d.key === 'herd/roles/web/instances/i-0least.json')).toBe(true);
    expect(instance.decisions.some((d) => d.action === 's3:GetObject' && d.key === 'herd/roles/web/releases/v1.json.sig')).toBe(true);
    expect(instance.decisions.some((d) => d.action === 's3:GetObject' && d.key === 'herd/roles/web/channel.json.sig')).toBe(true);
    expect(denied(instance)).toEqual([]);
    expect(denied(publisher)).toEqual([]);
  });

  it('the instance policy refuses writing the channel, manifests, blobs, deleting, and other roles', async () => {
    const before = instance.decisions.length;
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ['write the channel', () => asInstance.send(new PutObjectCommand({ Bucket: ws.bucket, Key: 'herd/roles/web/channel.json', Body: '{}' }))],
      ['sign the channel', () => asInstance.send(new PutObjectCommand({ Bucket: ws.bucket, Key: 'herd/roles/web/channel.json.sig', Body: '{}' }))],
      ['add a manifest', () => asInstance.send(new PutObjectCommand({ Bucket: ws.bucket, Key: 'herd/roles/web/releases/evil.json', Body: '{}', IfNoneMatch: '*' }))],
      ['write a blob', () => asInstance.send(new PutObjectCommand({ Bucket: ws.bucket, Key: `herd/blobs/sha256/${'0'.repeat(64)}`, Body: 'x' }))],
      ['delete its report', () => asInstance.send(new DeleteObjectCommand({ Bucket: ws.bucket, Key: 'herd/roles/web/instances/i-0least.json' }))],
      ['report as another role', () => asInstance.send(new PutObjectCommand({ Bucket: ws.bucket, Key: 'herd/roles/api/instances/i-0least.json', Body: '{}' }))],
      ['read another role', () => asInstance.send(new GetObjectCommand({ Bucket: ws.bucket, Key: 'herd/roles/api/channel.json' }))],
    ];
    for (const [what, attempt] of attempts) {
      await expect(attempt(), what).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    }
    // The agent keeps polling meanwhile; what the attempts asked for was all refused.
    expect(instance.decisions.slice(before).filter((d) => !d.allowed)).toHaveLength(attempts.length);
    // A missing key of its own role answers 404, which the agent reads as "not published".
    await expect(asInstance.send(new GetObjectCommand({ Bucket: ws.bucket, Key: 'herd/roles/web/releases/nope.json' })))
      .rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
  });

  it('the publisher policy refuses overwriting a manifest, deleting, and writing reports', async () => {
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ['overwrite a manifest', () => asPublisher.send(new PutObjectCommand({ Bucket: ws.bucket, Key: 'herd/roles/web/releases/v1.json', Body: '{}' }))],
      ['delete a manifest', () => asPublisher.send(new DeleteObjectCommand({ Bucket: ws.bucket, Key: 'herd/roles/web/releases/v1.json' }))],
      ['forge a report', () => asPublisher.send(new PutObjectCommand({ Bucket: ws.bucket, Key: 'herd/roles/web/instances/i-0least.json', Body: '{}' }))],
      ['touch another role', () => asPublisher.send(new PutObjectCommand({ Bucket: ws.bucket, Key: 'herd/roles/api/channel.json', Body: '{}' }))],
    ];
    for (const [what, attempt] of attempts) {
      await expect(attempt(), what).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    }
    const manifest = await readFile(join(ws.dir, 'baked/releases/v1/manifest.json'), 'utf8');
    expect(JSON.parse(manifest)).toMatchObject({ id: 'v1', role: 'web' });
  });
});

// ---- appUser ------------------------------------------------------------------------------

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('an agent running as root runs the app as appUser (skipped unless the tests run as root)', () => {
  let ws: Workspace;
  let agent: AgentProcess;
  let healthPort: number;
  let appPort: number;
  let dataDir: string;
  let nobody: { uid: number; gid: number };

  beforeAll(async () => {
    ws = await workspace();
    // mkdtemp makes the workspace 0700; an instance's /var/lib is traversable by everyone.
    await chmod(ws.dir, 0o755);
    const code = join(ws.dir, 'uid-app');
    await mkdir(code);
    await cp(join(ROOT, 'test/fixtures/apps/http-app.mjs'), join(code, 'http-app.mjs'));
    await writeFile(join(code, 'herd.json'), JSON.stringify({ command: ['node', 'http-app.mjs'], port: 1, health: { path: '/healthz', timeoutS: 20 } }));
    const config = await writeApp(join(ws.dir, 'uid-config'), { 'app.json': JSON.stringify({ greeting: 'read as nobody' }) });
    for (const cmd of [['publish', '--code', code, '--config', config], ['roll']]) {
      const result = await runHerd([cmd[0] as string, ...ws.storeFlags, '--role', 'web', '--release', 'u1', ...cmd.slice(1)]);
      expect(result.code, result.stderr).toBe(0);
    }
    const { execFileSync } = await import('node:child_process');
    nobody = { uid: Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' })) };
    [healthPort, appPort] = [await freePort(), await freePort()];
    dataDir = join(ws.dir, 'data');
    const configFile = join(ws.dir, 'agent.json');
    await writeFile(configFile, JSON.stringify({
      sources: [{ bucket: ws.bucket, endpoint: ws.s3.endpoint }], dataDir, healthPort, healthHost: '127.0.0.1', appPort,
      appUser: 'nobody', identity: { provider: 'static', instanceId: 'i-0nobody', role: 'web', az: 'z1', region: 'r1' },
    }));
    agent = startAgent(configFile, cleanEnv(S3_ENV));
    await waitUntil('/healthz 200', async () => (await get(`http://127.0.0.1:${healthPort}/healthz`)).status === 200, 45_000)
      .catch((err: Error) => { throw new Error(`${err.message}\n${agent.lines.filter((l) => l.module === "app" || Number(l.level) >= 40).slice(0, 25).map((l) => JSON.stringify(l)).join('\n')}`); });
  });

  afterAll(async () => {
    await agent?.stop();
    await ws?.close();
  });

  it('the app process has appUser\'s uid and gid, the agent stays root', async () => {
    const status = JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body);
    expect(status).toMatchObject({ state: 'running', healthy: true, release: 'u1' });
    const proc = await readFile(`/proc/${status.pid}/status`, 'utf8');
    expect(proc).toMatch(new RegExp(`^Uid:\\t${nobody.uid}\\t${nobody.uid}\\t${nobody.uid}\\t${nobody.uid}$`, 'm'));
    expect(proc).toMatch(new RegExp(`^Gid:\\t${nobody.gid}\\t${nobody.gid}\\t${nobody.gid}\\t${nobody.gid}$`, 'm'));
    expect((await readFile(`/proc/${agent.child.pid}/status`, 'utf8'))).toMatch(/^Uid:\t0\t0\t0\t0$/m);
  });

  it('the app reads its code and its config as appUser', async () => {
    const answer = JSON.parse((await get(`http://127.0.0.1:${appPort}/`)).body);
    expect(answer).toMatchObject({ uid: nobody.uid, release: 'u1', config: { greeting: 'read as nobody' } });
    // Owned by the agent and not writable by the app: the app cannot change what it runs.
    const codeDir = await stat(join(dataDir, 'releases/u1/code'));
    expect(codeDir.uid).toBe(0);
    expect(codeDir.mode & 0o002).toBe(0);
  });

  it('the agent keeps working: it writes its report and stops the app on SIGTERM', async () => {
    await waitUntil('a running report', async () => {
      const status = await runHerd(['status', ...ws.storeFlags, '--role', 'web', '--json']);
      return status.stdout.includes('i-0nobody') && status.stdout.includes('"running"');
    });
    expect(await agent.stop()).toBe(0);
    expect(agent.lines.some((l) => l.module === 'app' && String(l.msg).includes('got SIGTERM'))).toBe(true);
  });

  /** An agent with `name`'s config that should refuse to start: its exit code and stderr. */
  async function refusedAgent(name: string, over: { appUser: string; dataDir: string }): Promise<{ code: number; stderr: string }> {
    const configFile = join(ws.dir, `${name}.json`);
    await writeFile(configFile, JSON.stringify({
      sources: [{ bucket: ws.bucket, endpoint: ws.s3.endpoint }], healthPort: await freePort(), healthHost: '127.0.0.1', ...over,
      identity: { provider: 'static', instanceId: `i-0${name}`, role: 'web', az: 'z1', region: 'r1' },
    }));
    const bad = startAgent(configFile, cleanEnv(S3_ENV));
    const code = await waitUntil('exit', async () => (bad.child.exitCode === null ? undefined : bad.child.exitCode), 30_000)
      .finally(() => bad.stop());
    return { code, stderr: bad.lines.map((l) => l.stderr ?? '').join('') };
  }

  it('an unknown appUser is a config error: exit 2 naming appUser', async () => {
    const { code, stderr } = await refusedAgent('bad-user', { appUser: 'no-such-herd-user', dataDir: join(ws.dir, 'data-bad') });
    expect(code).toBe(2);
    expect(stderr).toContain('appUser: no such user "no-such-herd-user"');
  });

  it('a dataDir appUser cannot reach is a config error at start: exit 2 naming the directory and the user', async () => {
    const locked = join(ws.dir, 'locked');
    await mkdir(locked);
    await chmod(locked, 0o700);
    const dataDir = join(locked, 'data');
    const { code, stderr } = await refusedAgent('locked', { appUser: 'nobody', dataDir });
    expect(code).toBe(2);
    expect(stderr).toContain(`dataDir ${dataDir}: appUser "nobody" (uid ${nobody.uid}) cannot search ${locked} (mode 0700, owner 0:0)`);
    expect(stderr).toContain(`chmod o+x ${locked}`);
  });
});

// ---- no credential in any log line ------------------------------------------------------

/** A pass-through in front of the fake metadata service that keeps every token it hands out. */
async function tokenRecorder(imdsUrl: string): Promise<{ url: string; tokens: string[]; close(): Promise<void> }> {
  const tokens: string[] = [];
  const server = createServer((req, res) => {
    const up = request(`${imdsUrl}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.url === '/latest/api/token' && answer.statusCode === 200) tokens.push(body.toString('utf8'));
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.end(body);
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tokens,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

describe('no credential or token in any output line, at debug level', () => {
  let ws: Workspace;
  let imds: ImdsServer;
  let recorder: Awaited<ReturnType<typeof tokenRecorder>>;
  const agents: AgentProcess[] = [];
  const cli: RunResult[] = [];
  // s3rver does not check SigV4 signatures, only the key id: any secret and token go through.
  const env = { secret: `envSecret${randomBytes(16).toString('hex')}`, token: `envToken${randomBytes(48).toString('base64url')}` };
  const profile = { secret: `imdsSecret${randomBytes(16).toString('hex')}`, token: `imdsSession${randomBytes(48).toString('base64url')}` };
  const envCredentials = { AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secret, AWS_SESSION_TOKEN: env.token, AWS_REGION: 'us-east-1' };

  let signingKey = '';
  let signKey = '';
  const herd = async (...args: string[]): Promise<RunResult> => {
    const result = await runHerd([args[0] as string, ...ws.storeFlags, '--log-level', 'debug', ...args.slice(1)], cleanEnv(envCredentials));
    cli.push(result);
    return result;
  };

  beforeAll(async () => {
    ws = await workspace();
    imds = await startImdsServer({
      instanceId: 'i-0secret', region: 'us-east-1', az: 'us-east-1a', tags: { 'herd:role': 'web' },
      credentials: { accessKeyId: LOCAL_S3_CREDENTIALS.accessKeyId, secretAccessKey: profile.secret, sessionToken: profile.token },
    });
    recorder = await tokenRecorder(imds.url);
    // An app that prints its whole environment: whatever the agent passes on ends up in the log.
    const app = await writeApp(join(ws.dir, 'env-app'), {
      'herd.json': JSON.stringify({ command: ['node', 'server.mjs'], port: 1, health: { path: '/healthz', timeoutS: 20 } }),
      'server.mjs': [
        "import { createServer } from 'node:http';",
        'console.log(JSON.stringify(process.env));',
        "createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');",
        "process.on('SIGTERM', () => process.exit(0));",
      ].join('\n'),
    });
    const keys = await runHerd(['keygen', '--out', ws.dir, '--json']);
    expect(keys.code, keys.stderr).toBe(0);
    signKey = JSON.parse(keys.stdout).private as string;
    signingKey = (await readFile(signKey, 'utf8')).split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    expect((await herd('publish', '--role', 'web', '--code', app, '--config', HELLO_CONFIG, '--release', 'e1')).code).toBe(0);
    expect((await herd('publish', '--role', 'web', '--code', app, '--config', HELLO_CONFIG, '--release', 'e2', '--sign-key', signKey)).code).toBe(0);
    expect((await herd('roll', '--role', 'web', '--release', 'e1')).code).toBe(0);
  });

  afterAll(async () => {
    for (const a of agents) await a.stop();
    await recorder?.close();
    await imds?.close();
    await ws?.close();
  });

  async function agentWith(name: string, identity: object, agentEnv: Record<string, string>): Promise<{ agent: AgentProcess; healthPort: number }> {
    const healthPort = await freePort();
    const configFile = join(ws.dir, `${name}.json`);
    await writeFile(configFile, JSON.stringify({
      // The first source refuses connections, so store errors are logged on every poll.
      sources: [{ bucket: ws.bucket, endpoint: `http://127.0.0.1:${await freePort()}` }, { bucket: ws.bucket, endpoint: ws.s3.endpoint }],
      dataDir: join(ws.dir, `data-${name}`), healthPort, healthHost: '127.0.0.1', appPort: await freePort(), appUser: null,
      pollIntervalS: 0.5, drainS: 0, logLevel: 'debug', identity,
    }));
    const agent = startAgent(configFile, cleanEnv(agentEnv));
    agents.push(agent);
    return { agent, healthPort };
  }

  it('publish (signed), roll, status, pull and two agents (instance profile, environment) log no secret', async () => {
    const fromProfile = await agentWith('profile', { provider: 'imds' }, { AWS_EC2_METADATA_SERVICE_ENDPOINT: recorder.url });
    const fromEnv = await agentWith('env', { provider: 'static', instanceId: 'i-0env', role: 'web', az: 'z', region: 'r' }, envCredentials);
    for (const { healthPort } of [fromProfile, fromEnv]) {
      await waitUntil('/healthz 200', async () => (await get(`http://127.0.0.1:${healthPort}/healthz`)).status === 200, 45_000);
    }
    expect((await herd('roll', '--role', 'web', '--release', 'e2', '--sign-key', signKey)).code).toBe(0);
    for (const { healthPort } of [fromProfile, fromEnv]) {
      await waitUntil('e2 running', async () => JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body).release === 'e2', 45_000);
    }
    expect((await herd('status', '--role', 'web')).code).toBe(0);
    expect((await herd('pull', '--role', 'web', '--data-dir', join(ws.dir, 'baked'))).code).toBe(0);
    // Failures print their causes: they must not carry a credential either.
    expect((await herd('roll', '--role', 'web', '--release', 'never')).code).toBe(1);
    const wrongBucket = await runHerd(['publish', '--bucket', 'no-such-bucket', '--endpoint', ws.s3.endpoint, '--log-level', 'debug',
      '--role', 'web', '--code', HELLO_APP], cleanEnv(envCredentials));
    cli.push(wrongBucket);
    expect(wrongBucket.code).toBe(1);
    for (const a of agents) expect(await a.stop()).toBe(0);

    // The secrets were really in play: the profile was fetched, tokens issued, debug lines written.
    expect(imds.requests.some((r) => r.path.includes('iam/security-credentials') && r.status === 200)).toBe(true);
    expect(recorder.tokens.length).toBeGreaterThan(0);
    const lines = agents.flatMap((a) => a.lines);
    expect(lines.some((l) => l.level === 20)).toBe(true);
    expect(lines.some((l) => l.module === 'app' && String(l.msg).includes('HERD_RELEASE'))).toBe(true);
    expect(lines.some((l) => String(l.err ?? l.msg).includes('ECONNREFUSED') || JSON.stringify(l).includes('cannot read'))).toBe(true);

    const everything = [...lines.map((l) => JSON.stringify(l)), ...cli.flatMap((r) => [r.stdout, r.stderr])].join('\n');
    expect(signingKey.length).toBeGreaterThan(40);
    for (const secret of [env.secret, env.token, profile.secret, profile.token, signingKey, ...recorder.tokens]) {
      expect(everything.includes(secret), `a secret (${secret.slice(0, 12)}...) appears in the output`).toBe(false);
    }
  });
});
