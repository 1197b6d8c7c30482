// dist/herd is what ships onto instances: one executable with Node inside. Here it runs with a
// PATH on which no node can be found: it prints its help and version, publishes and rolls,
// and boots an instance into a release that is no Node app either (examples/static-site,
// python3's http.server). The instance learns its role with metadata tags off, so the EC2
// client, loaded only then, must load inside the executable too.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_S3_CREDENTIALS } from '../../support/local-s3.ts';
import { startEc2Server, type Ec2Server } from '../fixtures/ec2-server.ts';
import { startImdsServer, type ImdsServer } from '../fixtures/imds-server.ts';
import {
  HERD_EXE, ROOT, S3_ENV, STATIC_SITE, freePort, get, runHerd, runProgram, startAgent, waitUntil, workspace,
  type AgentProcess, type Workspace,
} from '../helpers/harness.ts';
import { nodelessEnv, realPython3 } from '../helpers/no-node.ts';

const exe = { executable: true };

describe('the single executable, where no node can be found', () => {
  let ws: Workspace;
  let pathOnly: Record<string, string>;
  let imds: ImdsServer | undefined;
  let ec2: Ec2Server | undefined;
  let agent: AgentProcess | undefined;
  const herd = (...args: string[]) => runHerd([args[0] as string, ...ws.storeFlags, ...args.slice(1)], { ...pathOnly, ...S3_ENV }, exe);

  beforeAll(async () => {
    ws = await workspace();
    // sh and python3 are all the static site needs; nodelessEnv checks `command -v node` fails.
    pathOnly = await nodelessEnv(join(ws.dir, 'bin'), { python3: await realPython3() });
  });

  afterAll(async () => {
    await agent?.stop();
    await imds?.close();
    await ec2?.close();
    await ws?.close();
  });

  it('is an ELF executable with its sha256sum line beside it', async () => {
    const bytes = await readFile(HERD_EXE);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    const line = await readFile(`${HERD_EXE}.sha256`, 'utf8');
    expect(line).toBe(`${createHash('sha256').update(bytes).digest('hex')}  herd\n`);
  });

  it('prints its version and help, and nothing else', async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
    // Nothing on stderr: no experimental-feature warning, no "Code cache data rejected".
    expect(await runHerd(['--version'], pathOnly, exe)).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    const help = await runHerd(['--help'], pathOnly, exe);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    for (const cmd of ['agent', 'publish', 'roll', 'rollback', 'status', 'pull', 'keygen', 'iam-policy']) expect(help.stdout).toMatch(new RegExp(`^  ${cmd} `, 'm'));
    expect((await runHerd(['frobnicate'], pathOnly, exe)).code).toBe(2);
  });

  it('runs with the small young generation the .mjs gets from its #! line', async () => {
    // A preloaded probe (given as --node-options, which the executable takes for Node's flags,
    // and as NODE_OPTIONS to the plain node) reports the flags and how far the young generation
    // grew under short-lived garbage, then exits.
    const probe = join(ws.dir, 'probe.cjs');
    await writeFile(probe, [
      "const v8 = require('node:v8');",
      'let keep = [];',
      'for (let i = 0; i < 6e6; i++) { keep.push({ i }); if (keep.length > 1e6) keep = []; }',
      "const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');",
      'process.stdout.write(JSON.stringify({ execArgv: process.execArgv, youngBytes: young.space_size }));',
      'process.exit(0);',
    ].join('\n'));
    const measure = async (program: string, args: string[], env: Record<string, string> = pathOnly) => {
      const out = await runProgram(program, args, env);
      expect(out.code, out.stderr).toBe(0);
      return JSON.parse(out.stdout) as { execArgv: string[]; youngBytes: number };
    };
    const packed = await measure(HERD_EXE, [`--node-options=--require ${probe}`, '--version']);
    expect(packed.execArgv).toContain('--max-semi-space-size=1');
    const plain = await measure(process.execPath, ['-e', '0'], { ...pathOnly, NODE_OPTIONS: `--require ${probe}` });
    expect(packed.youngBytes).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect(plain.youngBytes).toBeGreaterThan(packed.youngBytes);
  });

  it('publishes and rolls a release', async () => {
    const published = await herd('publish', '--role', 'site', '--code', STATIC_SITE, '--release', 's1', '--json');
    expect(published.stderr).toBe('');
    expect(published.code).toBe(0);
    expect(JSON.parse(published.stdout)).toMatchObject({ release: 's1', role: 'site', existed: false });
    const rolled = await herd('roll', '--role', 'site', '--release', 's1');
    expect(rolled.code).toBe(0);
    expect(rolled.stdout).toContain('(none) -> s1');
    expect(await ws.store().getChannel('site')).toMatchObject({ channel: { release: 's1' } });
  });

  it('boots an instance into the static site: health gate on /, then it serves', async () => {
    const instanceId = 'i-0exe1234';
    imds = await startImdsServer({
      instanceId, region: 'eu-west-1', az: 'eu-west-1c', tags: null, credentials: LOCAL_S3_CREDENTIALS, roleName: 'herd-instance',
    });
    ec2 = await startEc2Server({ instanceId, tags: { 'herd:role': 'site', Name: 'site-1' } });
    const [healthPort, appPort] = [await freePort(), await freePort()];
    const configFile = join(ws.dir, 'agent.json');
    await writeFile(configFile, JSON.stringify({
      sources: [{ bucket: ws.bucket, endpoint: ws.s3.endpoint, region: 'eu-west-1' }],
      dataDir: join(ws.dir, 'data'), healthPort, healthHost: '127.0.0.1', appPort, appUser: null,
    }));
    // No AWS keys: credentials come from the instance profile through IMDSv2.
    agent = startAgent(configFile, { ...pathOnly, AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url, AWS_ENDPOINT_URL_EC2: ec2.url }, exe);
    await waitUntil('/healthz 200', async () => (await get(`http://127.0.0.1:${healthPort}/healthz`)).status === 200, 45_000);

    expect(ec2.actions).toContain('DescribeTags');
    const page = await get(`http://127.0.0.1:${appPort}/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<h1>static-site</h1>');
    const status = JSON.parse((await get(`http://127.0.0.1:${healthPort}/status`)).body);
    expect(status).toMatchObject({
      identity: { instanceId, role: 'site', az: 'eu-west-1c' }, state: 'running', healthy: true, release: 's1', lastError: null,
    });
    // python3's own request log, as the agent's JSON lines.
    expect(agent.lines.some((l) => l.module === 'app' && /"GET \/ HTTP\/1\.[01]" 200/.test(String(l.msg)))).toBe(true);
    // The agent restarted itself (same pid) in V8's lite mode with gc(), and V8 took the code
    // compiled for it at build time: nothing on stderr, no "Code cache data rejected".
    const cmdline = (await readFile(`/proc/${agent.child.pid}/cmdline`, 'utf8')).split('\0');
    expect(cmdline.slice(1, 3)).toEqual(['--node-options=--lite-mode --expose-gc', 'agent']);
    expect(agent.lines.filter((l) => 'stderr' in l)).toEqual([]);
  });

  it('stops the app on SIGTERM and exits 0', async () => {
    expect(await agent?.stop()).toBe(0);
    agent = undefined;
  });
});
