// Resolves the unprivileged user the app runs as when the agent is root, and checks at start
// that this user can reach the releases under dataDir: an app that cannot would only die
// later with "Cannot find module", far from the cause.
import { realpath, stat } from 'node:fs/promises';
import { dirname, join, parse } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ConfigError } from './errors.ts';

/** `id ARGS...`; rejects when it fails. */
const run = (...args: string[]) => promisify(execFile)('id', args, { encoding: 'utf8' });

export interface AppUser { uid: number; gid: number }
interface Who extends AppUser { name: string; groups: number[] }
interface DirMode { uid: number; gid: number; mode: number }

const SEARCH = 0o1;
const READ_SEARCH = 0o5;

/** uid/gid of `name`, via `id` so NSS users (LDAP, sssd) resolve too; ConfigError when unknown. */
async function lookupUser(name: string): Promise<AppUser> {
  try {
    const [uid, gid] = await Promise.all([run('-u', name), run('-g', name)]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch (err) {
    throw new ConfigError(`appUser: no such user "${name}" on this machine (create it, or set "appUser": null to run the app as the agent's user)`, { cause: err });
  }
}

/** Every group `name` is in (`id -G`); only its primary group when that cannot be read. */
async function groupsOf(name: string, gid: number): Promise<number[]> {
  try {
    const { stdout } = await run('-G', name);
    return [gid, ...stdout.trim().split(/\s+/).map(Number).filter(Number.isInteger)];
  } catch {
    return [gid];
  }
}

/** Pure: whether the app must drop to appUser. */
export function needsUserSwitch(input: { agentUid: number | null; appUser: string | null }): boolean {
  return input.agentUid === 0 && input.appUser !== null;
}

/** Pure: the mode class ('u', 'g' or 'o') that applies to `who` on a file, as the kernel picks it. */
function modeClass(who: { uid: number; groups: readonly number[] }, file: DirMode): 'u' | 'g' | 'o' {
  if (who.uid === file.uid) return 'u';
  return who.groups.includes(file.gid) ? 'g' : 'o';
}

/** Pure: whether `who` has every bit of `want` (r=4, w=2, x=1) on `file`, by its mode bits (ACLs aside). */
function permits(who: { uid: number; groups: readonly number[] }, file: DirMode, want: number): boolean {
  if (who.uid === 0) return true;
  const shift = { u: 6, g: 3, o: 0 }[modeClass(who, file)];
  return ((file.mode >> shift) & want) === want;
}

/** `/`, then each directory down to `target`, inclusive. */
function pathDown(target: string): string[] {
  const dirs: string[] = [];
  for (let dir = target; ; dir = dirname(dir)) {
    dirs.unshift(dir);
    if (dir === parse(dir).root) return dirs;
  }
}

/** The first directory on the way to `target` that `who` may not pass, with what it lacks; null when all pass. */
async function firstBlocked(target: string, who: Who): Promise<{ dir: string; file: DirMode; want: number } | null> {
  const real = await realpath(target).catch(() => target);
  for (const dir of pathDown(real)) {
    const file = await stat(dir).catch(() => null);
    if (!file) return null; // not there yet: the agent creates it, searchable by all
    const want = dir === real ? READ_SEARCH : SEARCH;
    if (!permits(who, file, want)) return { dir, file, want };
  }
  return null;
}

/** The sentence for an appUser that cannot reach `releases` because of `blocked`. */
function unreachable(who: Who, dataDir: string, releases: string, blocked: { dir: string; file: DirMode; want: number }): string {
  const { dir, file, want } = blocked;
  const needs = want === READ_SEARCH ? 'read and search' : 'search';
  const fix = `chmod ${modeClass(who, file)}+${want === READ_SEARCH ? 'rx' : 'x'} ${dir}`;
  return `dataDir ${dataDir}: appUser "${who.name}" (uid ${who.uid}) cannot ${needs} ${dir} `
    + `(mode ${(file.mode & 0o7777).toString(8).padStart(4, '0')}, owner ${file.uid}:${file.gid}), so the app could not load its release from ${releases}; `
    + `let ${who.name} through (e.g. ${fix}), or set "dataDir" under directories it can search`;
}

/**
 * The uid/gid to run the app as, or undefined when no switch is needed (the agent is not
 * root, or appUser is null). ConfigError (exit 2) when appUser is unknown, or cannot search
 * every directory from `/` down to `<dataDir>/releases` and read that one.
 */
export async function resolveAppUser(input: { appUser: string | null; agentUid: number | null; dataDir: string }): Promise<AppUser | undefined> {
  if (!needsUserSwitch(input)) return undefined;
  const name = input.appUser as string;
  const user = await lookupUser(name);
  const who: Who = { ...user, name, groups: await groupsOf(name, user.gid) };
  const releases = join(input.dataDir, 'releases');
  const blocked = await firstBlocked(releases, who);
  if (blocked) throw new ConfigError(unreachable(who, input.dataDir, releases, blocked));
  return user;
}
