// herd mirror's flags: the source as every command takes it (plus --profile), the
// destination from --to-* flags only (never from the environment, so it cannot silently be
// the source), and the exit code: 1 when anything was refused or failed.
import type { Command } from 'commander';
import { sourceFromFlags, sourceSchema, type SourceConfig, type StoreFlags } from '../config.ts';
import { IntegrityError, UsageError } from '../errors.ts';
import { numberFlag, parseFlag, parseFlags } from '../flags.ts';
import type { Logger } from '../log.ts';
import { parseTrustedKeys } from '../signing/keys.ts';
import { ObjectStore } from '../store/object-store.ts';
import { roleSchema } from '../store/schemas.ts';
import type { MirrorResult } from './mirror.ts';
import { createOutput } from './output.ts';

export interface MirrorFlags extends StoreFlags {
  json?: boolean;
  logLevel?: string;
  role: string[];
  all?: boolean;
  profile?: string;
  toBucket: string;
  toPrefix?: string;
  toRegion?: string;
  toEndpoint?: string;
  toPathStyle?: boolean;
  toProfile?: string;
  trustedKey: string[];
  watch?: boolean;
  interval?: number;
}

const DEFAULT_INTERVAL_S = 30;
const repeat = (v: string, all: string[]) => [...all, v];

export function mirrorCommand(cmd: Command, cliLogger: (flags: { logLevel?: string }) => Logger): Command {
  return cmd
    .description('copy what agents read (blobs, manifests, signatures, channels) to another store, verifying every digest; never deletes')
    .option('--role <role>', 'role to copy (repeatable)', repeat, [] as string[])
    .option('--all', 'every role in the source')
    .option('--profile <name>', 'AWS shared-config profile for the source')
    .requiredOption('--to-bucket <name>', 'destination bucket')
    .option('--to-prefix <prefix>', 'destination key prefix (default herd)')
    .option('--to-region <region>', 'destination region (default: the source\'s)')
    .option('--to-endpoint <url>', 'destination S3-compatible endpoint (implies path-style)')
    .option('--to-path-style', 'force path-style addressing at the destination')
    .option('--to-profile <name>', 'AWS shared-config profile for the destination (its own credentials)')
    .option('--trusted-key <key>', 'refuse releases not signed by one of these keys (repeatable; as in trustedKeys)', repeat, [] as string[])
    .option('--watch', 'keep following the source until SIGINT or SIGTERM')
    .option('--interval <seconds>', `seconds between passes with --watch (default ${DEFAULT_INTERVAL_S})`, numberFlag('intervalS'))
    .action(async (flags: MirrorFlags) => {
      const log = cliLogger(flags);
      const out = createOutput({ json: flags.json ?? false });
      if (flags.all && flags.role.length > 0) throw new UsageError('give --role or --all, not both');
      if (!flags.all && flags.role.length === 0) throw new UsageError('herd mirror needs --role ROLE (repeatable) or --all');
      const roles = flags.role.map((r) => parseFlag('role', roleSchema, r));
      const intervalS = flags.interval ?? DEFAULT_INTERVAL_S;
      if (!(intervalS > 0)) throw new UsageError('--interval takes a number of seconds above 0');
      // The copying code and the SDK's client load only when herd mirror runs, not with every command.
      const [{ createS3Client }, { mirrorOnce, mirrorWatch }, { summarizeRole }] = await Promise.all([
        import('../store/client.ts'), import('./mirror.ts'), import('./mirror-plan.ts'),
      ]);
      const fromSource = sourceFromFlags(flags);
      const toSource = destinationFromFlags(flags, fromSource);
      const from = new ObjectStore({ source: fromSource, log, client: createS3Client(fromSource, undefined, flags.profile) });
      const to = new ObjectStore({ source: toSource, log, client: createS3Client(toSource, undefined, flags.toProfile) });
      const input = { from, to, roles, all: flags.all ?? false, trustedKeys: parseTrustedKeys(flags.trustedKey), out, log };
      if (flags.trustedKey.length === 0) out.info('note: no --trusted-key given: signatures are copied as they are, not verified');
      const print = (r: MirrorResult) => out.result(r.roles.map(summarizeRole).join('\n') || 'no roles to mirror', { ...r });
      if (!flags.watch) {
        const result = await mirrorOnce(input);
        print(result);
        if (result.problems.length > 0) throw new IntegrityError(`mirror refused: ${describeProblems(result)}`);
        return;
      }
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      // A pass that copied nothing and refused nothing new prints nothing: one line per change.
      let lastProblems = '';
      await mirrorWatch({
        ...input, intervalS, signal: stop.signal,
        onPass: (r) => {
          const problems = describeProblems(r);
          const copied = r.roles.some((x) => x.releasesCopied.length > 0 || x.channel.action === 'copy');
          if (copied || problems !== lastProblems) print(r);
          lastProblems = problems;
        },
      });
    });
}

/** The destination store: --to-* only; region defaults to the source's. */
function destinationFromFlags(flags: MirrorFlags, from: SourceConfig): SourceConfig {
  const raw = {
    bucket: flags.toBucket, prefix: flags.toPrefix, region: flags.toRegion ?? from.region,
    endpoint: flags.toEndpoint, forcePathStyle: flags.toPathStyle,
  };
  const names = { bucket: '--to-bucket', prefix: '--to-prefix', region: '--to-region', endpoint: '--to-endpoint' };
  return parseFlags(sourceSchema, raw, names);
}

function describeProblems(r: MirrorResult): string {
  return r.problems.map((p) => `${p.role}/${p.release ?? 'channel'} ${p.kind === 'failed' ? '(failed) ' : ''}${p.why}`).join('; ');
}
