// The image: the systemd unit's sandbox (systemd-analyze security and verify), the Packer
// template (packer validate, offline and without AWS credentials), and the user-data for
// images that were not baked: cloud-init's schema check, and its install script run against
// a local S3 (behind a proxy that checks SigV4 signatures) and a fake IMDSv2, refusing an
// executable whose sha256 is not the pinned one. With CI=true a missing tool fails its test;
// elsewhere the test is skipped and its name says what to install.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGE_FILE_PATHS } from '../../agent/commands/image-files.ts';
import { withoutComments } from '../../agent/commands/user-data.ts';
import { LOCAL_S3_CREDENTIALS } from '../../support/local-s3.ts';
import { startImdsServer, type ImdsServer } from '../fixtures/imds-server.ts';
import { startSigV4Proxy, type SigV4Proxy } from '../fixtures/sigv4-proxy.ts';
import { cleanEnv, ROOT, runHerd, workspace, type Workspace } from '../helpers/harness.ts';

const CI = process.env.CI === 'true';
const UNIT = join(ROOT, 'packaging/herd-agent.service');
const MAX_EXPOSURE = 4.5;

const PROBES: Record<string, string> = {
  'systemd-analyze': 'command -v systemd-analyze',
  packer: 'command -v packer',
  'cloud-init': 'command -v cloud-init',
  python3: 'command -v python3',
  'python3-yaml': 'python3 -c "import yaml"',
};
const available = (tool: string) => spawnSync('sh', ['-c', `${PROBES[tool]} >/dev/null 2>&1`]).status === 0;

/** `it`, for a check that needs `tools`: in CI a missing one fails it; elsewhere it is skipped. */
function itNeeds(tools: string[], name: string, fn: () => Promise<void> | void, timeoutMs = 60_000): void {
  const lacking = tools.filter((t) => !available(t));
  if (lacking.length > 0 && !CI) {
    it.skip(`${name} [skipped: ${lacking.join(', ')} not installed here; .ci/run installs it]`, fn);
    return;
  }
  it(name, async () => {
    if (lacking.length > 0) throw new Error(`${lacking.join(', ')} not installed: CI must have it (.ci/run installs packer, cloud-init)`);
    await fn();
  }, timeoutMs);
}

function run(cmd: string, args: string[], options: { env?: Record<string, string>; cwd?: string } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: options.cwd ?? ROOT, env: options.env ?? cleanEnv() });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '', output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** The same, without blocking: for a program that talks to servers this test process runs. */
function runAsync(cmd: string, args: string[], env: Record<string, string>): Promise<ReturnType<typeof run>> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr, output: `${stdout}${stderr}` }));
  });
}

const tmp = mkdtempSync(join(tmpdir(), 'herd-image-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function standIn(path: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, '#!/bin/sh\nexit 0\n');
  chmodSync(path, 0o755);
  return path;
}

describe('the systemd unit', () => {
  itNeeds(['systemd-analyze'], `has an exposure level of ${MAX_EXPOSURE} or lower (systemd-analyze security)`, () => {
    const r = run('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT]);
    const level = /Overall exposure level for herd-agent\.service: ([\d.]+)/.exec(r.output);
    expect(level, r.output).not.toBeNull();
    expect(Number(level?.[1])).toBeLessThanOrEqual(MAX_EXPOSURE);
  });

  itNeeds(['systemd-analyze'], 'passes systemd-analyze verify with the executable in place, and fails without it', () => {
    // A root with the system's units, the unit where bake.sh puts it and a stand-in executable:
    // verify checks ExecStart's program inside --root, so the check is about this unit as installed.
    const root = join(tmp, 'root');
    const units = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => existsSync(d)) as string;
    cpSync(units, join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    copyFileSync(UNIT, join(root, 'etc/systemd/system/herd-agent.service'));
    const herd = standIn(join(root, 'usr/local/bin/herd'));

    const clean = run('systemd-analyze', ['verify', `--root=${root}`, 'herd-agent.service']);
    expect({ code: clean.code, output: clean.output.trim() }).toEqual({ code: 0, output: '' });

    rmSync(herd);
    const missing = run('systemd-analyze', ['verify', `--root=${root}`, 'herd-agent.service']);
    expect(missing.code).not.toBe(0);
    expect(missing.output).toContain('/usr/local/bin/herd is not executable');
  });

  it('sandboxes without MemoryDenyWriteExecute (V8 needs W+X) and keeps only three capabilities', () => {
    const text = readFileSync(UNIT, 'utf8');
    const settings = text.split('\n').filter((l) => /^[A-Z]\w*=/.test(l));
    expect(settings.some((l) => l.startsWith('MemoryDenyWriteExecute='))).toBe(false);
    expect(settings).toContain('CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_KILL');
    expect(settings).toContain('ExecStart=/usr/local/bin/herd agent --config /etc/herd/agent.json');
    expect(settings).toContain('ProtectSystem=strict');
    expect(settings).toContain('StateDirectory=herd');
  });
});

describe('the mirror units (herd-mirror.service and .timer)', () => {
  const MIRROR = join(ROOT, 'packaging/herd-mirror.service');
  itNeeds(['systemd-analyze'], 'run one unprivileged, sandboxed pass of herd mirror: exposure 2.0 or lower', () => {
    const r = run('systemd-analyze', ['security', '--offline=true', '--no-pager', MIRROR]);
    const level = /Overall exposure level for herd-mirror\.service: ([\d.]+)/.exec(r.output);
    expect(level, r.output).not.toBeNull();
    expect(Number(level?.[1])).toBeLessThanOrEqual(2);
    const settings = readFileSync(MIRROR, 'utf8').split('\n').filter((l) => /^[A-Z]\w*=/.test(l));
    expect(settings).toContain('ExecStart=/usr/local/bin/herd mirror --log-level info $HERD_MIRROR_ARGS');
    expect(settings).toContain('DynamicUser=yes');
  });

  itNeeds(['systemd-analyze'], 'pass systemd-analyze verify, the timer starting the service', () => {
    const root = join(tmp, 'mirror-root');
    const units = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => existsSync(d)) as string;
    cpSync(units, join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    for (const name of ['herd-mirror.service', 'herd-mirror.timer']) copyFileSync(join(ROOT, 'packaging', name), join(root, 'etc/systemd/system', name));
    standIn(join(root, 'usr/local/bin/herd'));
    const r = run('systemd-analyze', ['verify', `--root=${root}`, 'herd-mirror.service', 'herd-mirror.timer']);
    expect({ code: r.code, output: r.output.trim() }).toEqual({ code: 0, output: '' });
  });
});

describe('the Packer template', () => {
  itNeeds(['packer'], 'passes packer validate offline, without AWS credentials, and checks the files it uploads', () => {
    const herd = standIn(join(tmp, 'packer/herd'));
    const env = cleanEnv({ CHECKPOINT_DISABLE: '1', HOME: tmp });
    const ok = run('packer', ['validate', '-var', `herd_executable=${herd}`, '-var', 'bake_role=web', '-var', 'herd_bucket=acme-herd', 'ami/packer.json'], { env });
    expect(ok, ok.output).toMatchObject({ code: 0 });
    const noExecutable = run('packer', ['validate', '-var', `herd_executable=${join(tmp, 'packer/absent')}`, 'ami/packer.json'], { env });
    expect(noExecutable.code).not.toBe(0);
    expect(noExecutable.output).toContain('absent');
  });

  it('uploads bake.sh and seal.sh, which parse as shell, and seals last', () => {
    for (const script of ['ami/bake.sh', 'ami/seal.sh']) expect(run('bash', ['-n', script]).code, script).toBe(0);
    const template = JSON.parse(readFileSync(join(ROOT, 'ami/packer.json'), 'utf8'));
    expect(template.builders[0].source_ami_filter.owners).toEqual(['136693071363']);
    expect(template.provisioners.at(-1).script).toBe('{{template_dir}}/seal.sh');
  });
});

describe('user-data for an image that was not baked', () => {
  const HEX = 'ab'.repeat(32);
  let ws: Workspace;
  let proxy: SigV4Proxy;
  let imds: ImdsServer;

  beforeAll(async () => {
    ws = await workspace('herd-image');
    proxy = await startSigV4Proxy({ target: ws.s3.endpoint, secretAccessKey: LOCAL_S3_CREDENTIALS.secretAccessKey });
    imds = await startImdsServer({
      instanceId: 'i-0image', region: 'us-east-1', az: 'us-east-1a', tags: {},
      credentials: { ...LOCAL_S3_CREDENTIALS, sessionToken: 'session-token-from-imds' },
    });
  });
  afterAll(async () => {
    await imds?.close();
    await proxy?.close();
    await ws?.close();
  });

  /** The YAML as cloud-init reads it (PyYAML, which cloud-init itself uses). */
  function loadYaml(file: string): { write_files: Array<{ path: string; content: string; permissions: string }>; runcmd: string[][] } {
    const r = run('python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', file]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  }

  itNeeds(['cloud-init', 'python3-yaml'], 'passes cloud-init schema, as printed and as the template, and carries the files as the repository has them', async () => {
    const printed = await runHerd(['user-data', '--bucket', 'acme-herd', '--region', 'eu-west-1', '--sha256', HEX]);
    expect(printed.code, printed.stderr).toBe(0);
    const file = join(tmp, 'user-data.yaml');
    writeFileSync(file, printed.stdout);
    for (const f of [file, join(ROOT, 'ami/user-data.yaml')]) {
      const schema = run('cloud-init', ['schema', '--config-file', f]);
      expect(schema, schema.output).toMatchObject({ code: 0 });
      expect(schema.output).toContain('Valid cloud-config');
    }
    const doc = loadYaml(file);
    const byPath = Object.fromEntries(doc.write_files.map((w) => [w.path, w]));
    const repo = (name: keyof typeof IMAGE_FILE_PATHS) => readFileSync(join(ROOT, IMAGE_FILE_PATHS[name]), 'utf8');
    const unit = byPath['/etc/systemd/system/herd-agent.service']?.content ?? '';
    expect(unit).toBe(withoutComments(repo('unit'), unit.split('\n')[0] as string));
    const script = byPath['/usr/local/lib/herd/install-agent.py']?.content ?? '';
    expect(script).toBe(withoutComments(repo('installScript'), script.split('\n')[1] as string));
    expect(byPath['/usr/local/lib/herd/install-agent.py']?.permissions).toBe('0755');
    expect(JSON.parse(byPath['/etc/herd/agent.json']?.content ?? '')).toEqual({ sources: [{ bucket: 'acme-herd', prefix: 'herd', region: 'eu-west-1' }] });
    expect(doc.runcmd).toEqual([[
      'python3', '/usr/local/lib/herd/install-agent.py', '--url', `https://acme-herd.s3.eu-west-1.amazonaws.com/herd/agent/sha256/${HEX}`,
      '--region', 'eu-west-1', '--sha256', HEX, '--app-user', 'app',
    ]]);
  });

  itNeeds(['python3', 'python3-yaml'], 'installs what publish-agent published, signed with the instance profile\'s credentials, and refuses other bytes', async () => {
    // A small x86-64 executable stands in for dist/herd: only its bytes matter here.
    const executable = join(tmp, 'agent/herd');
    mkdirSync(join(tmp, 'agent'), { recursive: true });
    copyFileSync(['/usr/bin/true', '/bin/true'].find((f) => existsSync(f)) as string, executable);
    const sha256 = createHash('sha256').update(readFileSync(executable)).digest('hex');
    const store = ['--bucket', 'herd-image', '--endpoint', proxy.endpoint];

    const published = await runHerd(['publish-agent', ...store, '--file', executable, '--json']);
    expect(published.code, published.stderr).toBe(0);
    expect(JSON.parse(published.stdout)).toMatchObject({ sha256, key: `herd/agent/sha256/${sha256}`, uploaded: true });
    const again = await runHerd(['publish-agent', ...store, '--file', executable, '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ sha256, uploaded: false });
    // Every request the SDK made passed the proxy's signature check: the check itself works.
    expect(proxy.requests.length).toBeGreaterThan(0);
    expect(proxy.requests.every((r) => r.verified)).toBe(true);

    const printed = await runHerd(['user-data', ...store]);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stderr).toContain(`pinning herd`);
    const file = join(tmp, 'local-user-data.yaml');
    writeFileSync(file, printed.stdout);
    const doc = loadYaml(file);
    const script = join(tmp, 'install-agent.py');
    writeFileSync(script, doc.write_files.find((w) => w.path === '/usr/local/lib/herd/install-agent.py')?.content ?? '');
    const argv = (doc.runcmd[0] ?? []).slice(2);
    expect(argv).toEqual(['--url', `${proxy.endpoint}/herd-image/herd/agent/sha256/${sha256}`, '--region', 'us-east-1', '--sha256', sha256, '--app-user', 'app']);

    const env = cleanEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url });
    const install = (args: string[]) => runAsync('python3', [script, ...args, '--no-start', '--attempts', '1'], env);
    const dest = join(tmp, 'bin/herd');

    const before = proxy.requests.length;
    const ok = await install([...argv, '--dest', dest]);
    expect(ok, ok.output).toMatchObject({ code: 0 });
    expect(ok.stderr).toContain(`installed ${dest}`);
    expect(readFileSync(dest)).toEqual(readFileSync(executable));
    expect(statSync(dest).mode & 0o777).toBe(0o755);
    const fetches = proxy.requests.slice(before);
    expect(fetches).toEqual([{ method: 'GET', path: `/herd-image/herd/agent/sha256/${sha256}`, verified: true, signedHeaders: expect.arrayContaining(['host', 'x-amz-date', 'x-amz-security-token']) }]);
    expect(imds.requests.filter((r) => r.method === 'GET').every((r) => r.hadToken)).toBe(true);
    for (const secret of [LOCAL_S3_CREDENTIALS.secretAccessKey, 'session-token-from-imds']) expect(ok.output).not.toContain(secret);

    const twice = await install([...argv, '--dest', dest]);
    expect(twice.code).toBe(0);
    expect(twice.stderr).toContain('is already the executable');

    // Bytes that are not the pinned ones never land where they would run.
    const other = join(tmp, 'other/herd');
    mkdirSync(join(tmp, 'other'), { recursive: true });
    const wrong = argv.map((a) => (a === sha256 ? HEX : a));
    const refused = await install([...wrong, '--dest', other]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`its sha256 is ${sha256}, the user-data expects ${HEX}`);
    expect(readdirSync(join(tmp, 'other'))).toEqual([]);

    // Credentials that do not sign right get S3's 403, and nothing is installed.
    const badImds = await startImdsServer({
      instanceId: 'i-0image', region: 'us-east-1', az: 'us-east-1a', tags: {},
      credentials: { accessKeyId: LOCAL_S3_CREDENTIALS.accessKeyId, secretAccessKey: 'not-the-secret' },
    });
    try {
      const unsigned = await runAsync('python3', [script, ...argv, '--dest', other, '--no-start', '--attempts', '1'], cleanEnv({ AWS_EC2_METADATA_SERVICE_ENDPOINT: badImds.url }));
      expect(unsigned.code).toBe(1);
      expect(unsigned.stderr).toContain('HTTP 403 SignatureDoesNotMatch');
      expect(readdirSync(join(tmp, 'other'))).toEqual([]);
    } finally {
      await badImds.close();
    }
  });
});
