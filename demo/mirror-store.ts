// The mirror the drill fails over to, standing in for another provider: a second local S3
// store (its own port and directory) filled from the primary by `herd mirror`, run as the
// built CLI the way a user would run it. s3rver has one built-in account, so the two stores
// share credentials here; against real providers, --profile and --to-profile keep them apart.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { SourceConfig } from '../agent/config.ts';
import { HerdError } from '../agent/errors.ts';
import { describeSource } from '../agent/store/layout.ts';
import { startLocalS3 } from '../support/local-s3.ts';
import { Interrupted } from './signals.ts';

export const MIRROR_BUCKET = 'herd-demo-mirror';

export interface MirrorStore {
  source: SourceConfig;
  /** As the agents name it in their logs: "s3://herd-demo-mirror/herd (http://127.0.0.1:...)". */
  name: string;
  endpoint: string;
  /** What `herd mirror` did, for people: "2 releases copied (hello-1, hello-2), channel generation 2". */
  copied: string;
  /** The command, as a user would type it. */
  command: string;
  close(): Promise<void>;
}

export interface MirrorStoreInput {
  root: string;
  /** The primary store, which `herd mirror` reads. */
  from: SourceConfig;
  role: string;
  herdScript: string;
  env: Record<string, string>;
  signal: AbortSignal;
}

/** Starts the second store and fills it; the store is closed again if filling fails or is interrupted. */
export async function startMirrorStore(input: MirrorStoreInput): Promise<MirrorStore> {
  const s3 = await startLocalS3({ directory: join(input.root, 's3-mirror'), buckets: [MIRROR_BUCKET] });
  const source: SourceConfig = { bucket: MIRROR_BUCKET, prefix: 'herd', endpoint: s3.endpoint, forcePathStyle: true };
  const args = [
    'mirror', '--bucket', input.from.bucket, '--prefix', input.from.prefix, '--endpoint', input.from.endpoint ?? '',
    '--role', input.role, '--to-bucket', MIRROR_BUCKET, '--to-endpoint', s3.endpoint, '--json',
  ];
  try {
    const stdout = await runHerd(input.herdScript, args, input.env, input.signal);
    return {
      source, name: describeSource(source), endpoint: s3.endpoint, copied: describeCopy(stdout),
      command: `herd ${args.filter((a) => a !== '--json').join(' ')}`, close: () => s3.close(),
    };
  } catch (err) {
    await s3.close();
    throw err;
  }
}

/** Pure: `herd mirror --json`'s result in a line. */
export function describeCopy(stdout: string): string {
  const result = JSON.parse(stdout) as { roles?: Array<{ releasesCopied?: string[]; channel?: { action?: string; generation?: number } }> };
  const role = result.roles?.[0];
  const copied = role?.releasesCopied ?? [];
  const channel = role?.channel?.action === 'copy' ? `channel generation ${role.channel.generation}` : 'no channel';
  return `${copied.length} release${copied.length === 1 ? '' : 's'} copied (${copied.join(', ') || 'none'}), ${channel}`;
}

function runHerd(script: string, args: string[], env: Record<string, string>, signal: AbortSignal): Promise<string> {
  return new Promise((resolveRun, reject) => {
    execFile(process.execPath, [script, ...args], { env, signal, timeout: 60_000 }, (err, stdout, stderr) => {
      // Ctrl-C on a terminal reaches the command too: it may exit before the demo's own handler runs.
      if (signal.aborted || err?.signal === 'SIGINT') return reject(new Interrupted());
      if (err) return reject(new HerdError(`herd mirror failed (${err.code ?? err.signal}): ${stderr.trim() || err.message}`));
      resolveRun(stdout);
    });
  });
}
