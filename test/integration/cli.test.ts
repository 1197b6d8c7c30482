// The operator's side of the contract: what publish, roll and pull print, refuse and exit with.
import { execFileSync } from 'node:child_process';
import { cp, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HELLO_APP, HELLO_CONFIG, S3_ENV, cleanEnv, runHerd, workspace, type Workspace } from '../helpers/harness.ts';

describe('herd CLI against a real S3 server', () => {
  let ws: Workspace;
  beforeAll(async () => { ws = await workspace(); });
  afterAll(async () => { await ws?.close(); });

  const herd = (...args: string[]) => runHerd([...args.slice(0, 1), ...ws.storeFlags, ...args.slice(1)]);

  it('lists the commands in --help', async () => {
    const { code, stdout } = await runHerd(['--help']);
    expect(code).toBe(0);
    for (const cmd of ['agent', 'publish', 'roll', 'pull']) expect(stdout).toContain(cmd);
  });

  it('exits 2 on a missing required flag or an unknown command', async () => {
    expect((await runHerd(['publish', '--bucket', 'b'])).code).toBe(2);
    expect((await runHerd(['frobnicate'])).code).toBe(2);
  });

  it('publishes, prints the id, and is idempotent for the same contents', async () => {
    const first = await herd('publish', '--role', 'api', '--code', HELLO_APP, '--release', 'r1', '--json');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ release: 'r1', existed: false });
    const again = await herd('publish', '--role', 'api', '--code', HELLO_APP, '--release', 'r1');
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe('r1');
    expect(again.stderr).toContain('already published');
  });

  it('generates a release id when none is given, and skips blobs already uploaded', async () => {
    const { code, stdout } = await herd('publish', '--role', 'api', '--code', HELLO_APP, '--json');
    expect(code).toBe(0);
    const out = JSON.parse(stdout);
    expect(out.release).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{8}$/);
    expect(out.uploadedBytes).toBe(0);
  });

  it('refuses a release id that exists with other contents', async () => {
    const changed = join(ws.dir, 'changed-app');
    await cp(HELLO_APP, changed, { recursive: true });
    await writeFile(join(changed, 'extra.txt'), 'new file\n');
    const { code, stderr } = await herd('publish', '--role', 'api', '--code', changed, '--release', 'r1');
    expect(code).toBe(1);
    expect(stderr).toContain('release r1 of role api exists with other contents');
  });

  it('names the missing or wrong herd.json field, exit 2', async () => {
    const noSpec = join(ws.dir, 'no-spec');
    await mkdir(noSpec, { recursive: true });
    await writeFile(join(noSpec, 'index.js'), '');
    const missing = await herd('publish', '--role', 'api', '--code', noSpec);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('herd.json: missing');

    await writeFile(join(noSpec, 'herd.json'), JSON.stringify({ command: ['node', 'index.js'], port: 'eighty', health: { path: '/h' } }));
    const wrong = await herd('publish', '--role', 'api', '--code', noSpec);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/herd\.json: port: .*number/);
  });

  it('publishes a ready .tar.gz made by GNU tar', async () => {
    const archive = join(ws.dir, 'hello.tar.gz');
    execFileSync('tar', ['czf', archive, '-C', HELLO_APP, '.']);
    const { code, stdout, stderr } = await herd('publish', '--role', 'api', '--code', archive, '--release', 'from-gnu-tar', '--json');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout).code.size).toBe((await readFile(archive)).length);
  });

  it('refuses at publish time a ready archive that agents would refuse', async () => {
    const archive = join(ws.dir, 'escaping.tar.gz');
    execFileSync('python3', ['-c', [
      'import tarfile, io, sys',
      'with tarfile.open(sys.argv[1], "w:gz") as t:',
      '    data = b\'{"command":["true"],"port":1,"health":{"path":"/"}}\'',
      '    info = tarfile.TarInfo("herd.json"); info.size = len(data); t.addfile(info, io.BytesIO(data))',
      '    evil = tarfile.TarInfo("../../etc/evil"); evil.size = 1; t.addfile(evil, io.BytesIO(b"x"))',
    ].join('\n'), archive]);
    const { code, stderr } = await herd('publish', '--role', 'api', '--code', archive);
    expect(code).not.toBe(0);
    expect(stderr).toContain('../../etc/evil');
  });

  it('refuses to roll an unpublished release and leaves the channel alone', async () => {
    const { code, stderr } = await herd('roll', '--role', 'api', '--release', 'never-published');
    expect(code).toBe(1);
    expect(stderr).toContain('release never-published of role api is not published');
    const pull = await herd('pull', '--role', 'api', '--data-dir', join(ws.dir, 'nothing'));
    expect(pull.code).toBe(2);
    expect(pull.stderr).toContain('role api has no channel yet');
  });

  it('rolls and pulls the channel\'s release into a data directory without running it', async () => {
    expect((await herd('publish', '--role', 'api', '--code', HELLO_APP, '--config', HELLO_CONFIG, '--release', 'r2')).code).toBe(0);
    const rolled = await herd('roll', '--role', 'api', '--release', 'r2', '--json');
    expect(rolled.code).toBe(0);
    expect(JSON.parse(rolled.stdout).channel).toMatchObject({ release: 'r2', previous: null, generation: 1, rollout: { percent: 100 } });
    const rolledAgain = await herd('roll', '--role', 'api', '--release', 'r1', '--percent', '50', '--json');
    expect(JSON.parse(rolledAgain.stdout).channel).toMatchObject({ release: 'r1', previous: 'r2', generation: 2, rollout: { percent: 50 } });

    const dataDir = join(ws.dir, 'baked');
    const pulled = await herd('pull', '--role', 'api', '--release', 'r2', '--data-dir', dataDir, '--json');
    expect(pulled.code).toBe(0);
    expect(JSON.parse(pulled.stdout)).toMatchObject({ release: 'r2', fetched: true });
    expect(await readFile(join(dataDir, 'releases/r2/code/server.mjs'), 'utf8')).toContain('hello-app');
    expect(await readFile(join(dataDir, 'releases/r2/config/app.json'), 'utf8')).toContain('greeting');
    expect(await readlink(join(dataDir, 'current'))).toBe('releases/r2');
    expect(JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')).lastKnownGood).toBe('r2');

    const again = await herd('pull', '--role', 'api', '--release', 'r2', '--data-dir', dataDir, '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ release: 'r2', fetched: false });
  });

  it('takes the key prefix from HERD_PREFIX when --prefix is not given', async () => {
    // --prefix used to default to "herd" in the flag itself, so HERD_PREFIX never applied.
    const env = { ...cleanEnv(S3_ENV), HERD_PREFIX: 'elsewhere' };
    expect((await runHerd(['publish', ...ws.storeFlags, '--role', 'pfx', '--code', HELLO_APP, '--release', 'p1'], env)).code).toBe(0);
    expect((await runHerd(['roll', ...ws.storeFlags, '--role', 'pfx', '--release', 'p1'], env)).code).toBe(0);
    expect(JSON.parse((await herd('status', '--role', 'pfx', '--prefix', 'elsewhere', '--json')).stdout).channel.release).toBe('p1');
    const underDefault = await herd('roll', '--role', 'pfx', '--release', 'p1');
    expect(underDefault.code).toBe(1);
    expect(underDefault.stderr).toContain('herd/roles/pfx/releases/p1.json');
  });

  it('exits 2 naming the bad key of an agent config', async () => {
    const file = join(ws.dir, 'bad-agent.json');
    await writeFile(file, JSON.stringify({ sources: [{ bucket: 'b-x-y' }], healthPort: 'x' }));
    const { code, stderr } = await runHerd(['agent', '--config', file]);
    expect(code).toBe(2);
    expect(stderr).toContain('healthPort');
    const none = await runHerd(['agent', '--config', join(ws.dir, 'absent.json')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('absent.json: no such file');
  });
});
