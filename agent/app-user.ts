// Resolves the unprivileged user the app runs as when the agent is root.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ConfigError } from './errors.ts';

const run = promisify(execFile);

/** uid/gid of `name`, via `id` so NSS users (LDAP, sssd) resolve too; ConfigError when unknown. */
export async function lookupUser(name: string): Promise<{ uid: number; gid: number }> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch (err) {
    throw new ConfigError(`appUser: no such user "${name}" on this machine (create it, or set "appUser": null to run the app as the agent's user)`, { cause: err });
  }
}

/** Pure: whether the app must drop to appUser. */
export function needsUserSwitch(input: { agentUid: number | null; appUser: string | null }): boolean {
  return input.agentUid === 0 && input.appUser !== null;
}
