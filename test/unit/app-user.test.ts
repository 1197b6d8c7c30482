// resolveAppUser as a table over real directories with real modes: as root, the app user
// (nobody) must search every directory down to <dataDir>/releases and read that one, by the
// owner, group or other bits that apply to it; otherwise a ConfigError (exit 2) names the
// directory and the user. Skipped unless the tests run as root (chown needs it).
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAppUser } from '../../agent/app-user.ts';
import { ConfigError, exitCodeOf } from '../../agent/errors.ts';

const isRoot = process.getuid?.() === 0;
const id = (flag: string) => Number(execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }));

/** A directory of the tree: its mode and, when not root:root, who owns it. */
interface Dir { mode: number; owner?: 'nobody' | 'group' }

describe.skipIf(!isRoot)('resolveAppUser (as root, with nobody)', () => {
  let base: string;
  let nobody: { uid: number; gid: number };
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'herd-app-user-'));
    await chmod(base, 0o755);
    nobody = { uid: id('-u'), gid: id('-g') };
  });
  afterAll(async () => { await rm(base, { recursive: true, force: true }); });

  /** base/<name>/parent/data/releases with the given modes; returns dataDir. */
  async function tree(name: string, dirs: { parent: Dir; data: Dir; releases: Dir }): Promise<string> {
    const parent = join(base, name, 'parent');
    const releases = join(parent, 'data', 'releases');
    await mkdir(releases, { recursive: true });
    await chmod(join(base, name), 0o755);
    for (const [dir, spec] of [[parent, dirs.parent], [join(parent, 'data'), dirs.data], [releases, dirs.releases]] as const) {
      if (spec.owner === 'nobody') await chown(dir, nobody.uid, nobody.gid);
      if (spec.owner === 'group') await chown(dir, 0, nobody.gid);
      await chmod(dir, spec.mode);
    }
    return join(parent, 'data');
  }

  const open = { mode: 0o755 };
  it.each<[string, { parent: Dir; data: Dir; releases: Dir }, string | null]>([
    ['every directory 0755', { parent: open, data: open, releases: open }, null],
    ['a parent only searchable by others (0711)', { parent: { mode: 0o711 }, data: { mode: 0o711 }, releases: open }, null],
    ['a 0700 parent owned by nobody', { parent: { mode: 0o700, owner: 'nobody' }, data: open, releases: open }, null],
    ['a 0750 parent of nobody\'s group', { parent: { mode: 0o750, owner: 'group' }, data: open, releases: open }, null],
    ['a 0700 parent', { parent: { mode: 0o700 }, data: open, releases: open }, 'cannot search {parent} (mode 0700, owner 0:0)'],
    ['a 0705 parent of nobody\'s group: the group bits apply, not the others\'', { parent: { mode: 0o705, owner: 'group' }, data: open, releases: open }, 'chmod g+x {parent}'],
    ['a 0700 dataDir', { parent: open, data: { mode: 0o700 }, releases: open }, 'cannot search {data} (mode 0700'],
    ['releases searchable but not readable (0711)', { parent: open, data: open, releases: { mode: 0o711 } }, 'cannot read and search {releases} (mode 0711, owner 0:0)'],
    ['releases readable but not searchable (0744)', { parent: open, data: open, releases: { mode: 0o744 } }, 'chmod o+rx {releases}'],
  ])('%s', async (name, dirs, error) => {
    const dataDir = await tree(name.replace(/\W+/g, '-'), dirs);
    const attempt = resolveAppUser({ appUser: 'nobody', agentUid: 0, dataDir });
    if (error === null) {
      expect(await attempt).toEqual(nobody);
      return;
    }
    const parent = join(dataDir, '..');
    const message = error.replace('{parent}', parent).replace('{data}', dataDir).replace('{releases}', join(dataDir, 'releases'));
    const err = await attempt.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(exitCodeOf(err)).toBe(2);
    expect((err as Error).message).toContain(message);
    expect((err as Error).message).toMatch(new RegExp(`^dataDir ${dataDir}: appUser "nobody" \\(uid ${nobody.uid}\\) cannot`));
  });

  it('follows a symlinked dataDir to the directories the kernel walks', async () => {
    const hidden = await tree('behind-a-link', { parent: { mode: 0o700 }, data: open, releases: open });
    const link = join(base, 'behind-a-link', 'link');
    await symlink(hidden, link);
    await expect(resolveAppUser({ appUser: 'nobody', agentUid: 0, dataDir: link })).rejects.toThrow(`cannot search ${join(hidden, '..')} (mode 0700`);
  });

  it('passes a dataDir not created yet under searchable directories (the agent creates it 0755)', async () => {
    expect(await resolveAppUser({ appUser: 'nobody', agentUid: 0, dataDir: join(base, 'not-yet', 'data') })).toEqual(nobody);
  });

  it.each([
    ['appUser is null', { appUser: null, agentUid: 0 }],
    ['the agent is not root', { appUser: 'nobody', agentUid: 1000 }],
  ])('switches no user, and checks nothing, when %s', async (_what, input) => {
    const dataDir = await tree(`no-switch-${input.agentUid}`, { parent: { mode: 0o700 }, data: open, releases: open });
    expect(await resolveAppUser({ ...input, dataDir })).toBeUndefined();
  });

  it('refuses an unknown user by name', async () => {
    await expect(resolveAppUser({ appUser: 'no-such-herd-user', agentUid: 0, dataDir: base })).rejects.toThrow('appUser: no such user "no-such-herd-user"');
  });
});
