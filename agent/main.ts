// The CLI: parses argv, builds what a command needs, calls it, and is the one place that
// turns errors into exit codes (0 done, 1 failed, 2 usage or config error). A command's code
// is loaded when that command runs: the agent, which runs for months, never evaluates the
// operator commands, their schemas, packing, or the AWS SDK's S3 client they use.
import { resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { agentConfigSchema, agentSourceFromFlags, configFilePath, loadConfig, sourceFromFlags, type StoreFlags } from './config.ts';
import { reportFailure } from './errors.ts';
import { numberFlag, parseFlag } from './flags.ts';
import { createLogger, type Logger } from './log.ts';
import { enterLiteMode } from './agent-v8.ts';
import { createOutput, formatBytes, actor } from './commands/output.ts';
import { DEFAULT_KEY_NAME, DEFAULT_STALE_AFTER_S } from './commands/defaults.ts';
import { ObjectStore } from './store/object-store.ts';
import { mirrorCommand } from './commands/mirror-cli.ts';
import { channelCommands } from './commands/channel-cli.ts';
import { VERSION } from './version.ts';

export interface CommonFlags extends StoreFlags { json?: boolean; logLevel?: string }

function storeOptions(cmd: Command): Command {
  return cmd
    .option('--bucket <name>', 'bucket (or HERD_BUCKET)')
    .option('--prefix <prefix>', 'key prefix under the bucket (or HERD_PREFIX; default herd)')
    .option('--region <region>', 'region (or AWS_REGION)')
    .option('--endpoint <url>', 'S3-compatible endpoint (or AWS_ENDPOINT_URL_S3)')
    .option('--path-style', 'force path-style addressing (default with --endpoint)')
    .option('--json', 'print one JSON document for scripts')
    .option('--log-level <level>', 'log level for stderr', 'warn');
}

function cliLogger(flags: CommonFlags): Logger {
  return createLogger({ level: parseFlag('logLevel', agentConfigSchema.shape.logLevel, flags.logLevel ?? 'warn'), fd: 2 });
}

/** The operator commands' store: through the AWS SDK's S3 client (multipart uploads, listing, conditional writes). */
async function storeFor(flags: CommonFlags, log: Logger): Promise<ObjectStore> {
  const source = sourceFromFlags(flags);
  const { createS3Client } = await import('./store/client.ts');
  return new ObjectStore({ source, log, client: createS3Client(source) });
}

export function buildProgram(): Command {
  const program = new Command('herd')
    .description('Make every front-end instance a disposable copy of a template: role from tags, versioned bundles from S3, a supervised app.')
    .version(VERSION)
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();

  program.command('agent')
    .description('run the agent: learn the role, fetch and run its release, serve /healthz')
    .option('--config <file>', 'agent config file (default /etc/herd/agent.json; HERD_* variables override)')
    .action(async (flags: { config?: string }) => {
      enterLiteMode();
      const { runAgent } = await import('./commands/agent-run.ts');
      await runAgent(flags);
    });

  storeOptions(program.command('publish'))
    .description('pack and upload a release (code, optional config); prints the release id')
    .requiredOption('--role <role>', 'role the release is for')
    .requiredOption('--code <dir|file.tar.gz>', 'code directory (with herd.json at its root) or a ready .tar.gz')
    .option('--config <dir|file.tar.gz>', 'config directory or .tar.gz')
    .option('--release <id>', 'release id (default: time and code digest)')
    .option('--sign-key <file>', 'sign the manifest with this ed25519 private key (from herd keygen)')
    .action(async (flags: CommonFlags & { role: string; code: string; config?: string; release?: string; signKey?: string }) => {
      const log = cliLogger(flags);
      const out = createOutput({ json: flags.json ?? false });
      const { publish } = await import('./commands/publish.ts');
      const result = await publish({
        store: await storeFor(flags, log), role: flags.role, code: flags.code, log, out,
        ...(flags.config !== undefined ? { config: flags.config } : {}),
        ...(flags.release !== undefined ? { release: flags.release } : {}),
        ...(flags.signKey !== undefined ? { signKey: flags.signKey } : {}),
      });
      out.result(result.release, { ...result });
    });

  program.command('keygen')
    .description('write an ed25519 key pair for signing releases and channels; prints the public key line for the agents\' trustedKeys')
    .requiredOption('--out <dir>', 'directory for NAME.key (private, mode 0600) and NAME.pub')
    .option('--name <name>', 'file name stem', DEFAULT_KEY_NAME)
    .option('--json', 'print one JSON document for scripts')
    .option('--log-level <level>', 'log level for stderr', 'warn')
    .action(async (flags: { out: string; name: string; json?: boolean; logLevel?: string }) => {
      const out = createOutput({ json: flags.json ?? false });
      const { keygen } = await import('./commands/keygen.ts');
      const result = await keygen({ dir: flags.out, name: flags.name, out, log: cliLogger(flags) });
      out.result(result.trustedKey, { ...result });
    });

  channelCommands(program, { storeOptions, storeFor, cliLogger });

  storeOptions(program.command('status'))
    .description('the role\'s channel and every instance\'s last report')
    .requiredOption('--role <role>', 'role')
    .option('--stale-after <seconds>', `flag reports older than this as STALE (default ${DEFAULT_STALE_AFTER_S})`, numberFlag('staleAfterS'))
    .option('--wait', 'follow the rollout under way as herd roll --wait does (exit 0 done, 1 halted, went back or timed out)')
    .option('--timeout <seconds>', 'with --wait: how long to wait (default 900)', numberFlag('timeoutS'))
    .option('--compare <store>', 'also show the channel generation another store has: s3://BUCKET[/PREFIX] or an http(s):// URL (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--compare-endpoint <url>', 'S3-compatible endpoint for the s3:// stores of --compare')
    .action(async (flags: CommonFlags & { wait?: boolean; timeout?: number; staleAfter?: number; compare: string[]; compareEndpoint?: string } & { role: string }) => {
      const log = cliLogger(flags);
      const out = createOutput({ json: flags.json ?? false });
      if (flags.wait) {
        const { followRollout } = await import('./commands/rollout-wait.ts');
        await followRollout({ store: await storeFor(flags, log), role: flags.role, flags, out, log });
        return;
      }
      const { renderStatus, status } = await import('./commands/status.ts');
      const store = await storeFor(flags, log);
      const fleet = await status({ store, role: flags.role, log, ...(flags.staleAfter !== undefined ? { staleAfterS: flags.staleAfter } : {}) });
      if (flags.compare.length === 0) {
        out.result(renderStatus(fleet), { ...fleet });
        return;
      }
      const { compareStores, renderStores } = await import('./commands/status-stores.ts');
      const stores = await compareStores({ role: flags.role, store, compare: flags.compare, endpoint: flags.compareEndpoint, log });
      out.result(`${renderStatus(fleet)}\n\n${renderStores(stores).join('\n')}`, { ...fleet, stores });
    });

  storeOptions(program.command('pull'))
    .description('fetch, verify and extract a release into a data directory without running it')
    .requiredOption('--role <role>', 'role')
    .option('--release <id>', 'release id (default: the channel\'s release)')
    .requiredOption('--data-dir <dir>', 'data directory, e.g. /var/lib/herd')
    .option('--url <url>', 'read from this HTTP(S) source (a CDN or static mirror of the store) instead of a bucket')
    .action(async (flags: CommonFlags & { role: string; release?: string; dataDir: string; url?: string }) => {
      const log = cliLogger(flags);
      const out = createOutput({ json: flags.json ?? false });
      const limits = agentConfigSchema.shape.limits.parse(undefined);
      const { pull } = await import('./commands/pull.ts');
      // The agent's own clients (S3, or the HTTP source --url names), as on an instance: pull is the agent's fetch, run ahead of time.
      const result = await pull({
        store: new ObjectStore({ source: agentSourceFromFlags(flags), log }), role: flags.role, dataDir: resolve(flags.dataDir), limits, log,
        ...(flags.release !== undefined ? { release: flags.release } : {}),
      });
      out.result(
        `${result.release} -> ${result.dir} (${result.fetched ? `${formatBytes(result.bytes)} fetched` : 'already on disk'} in ${result.seconds.toFixed(2)} s)`,
        { ...result },
      );
    });

  storeOptions(program.command('publish-agent'))
    .description('upload the herd executable where herd user-data expects it (agent/sha256/<hex>); prints its sha256')
    .option('--file <path>', 'the single executable npm run build writes', 'dist/herd')
    .action(async (flags: CommonFlags & { file: string }) => {
      const log = cliLogger(flags);
      const out = createOutput({ json: flags.json ?? false });
      const { publishAgent } = await import('./commands/publish-agent.ts');
      const result = await publishAgent({ store: await storeFor(flags, log), file: flags.file, actor: actor(), out, log });
      out.result(`${result.sha256}  ${result.key}${result.version ? ` (herd ${result.version})` : ''}`, { ...result });
    });

  storeOptions(program.command('user-data'))
    .description('print cloud-init user-data that installs and starts herd at first boot on an image without it')
    .option('--sha256 <hex>', 'pin this executable, and read nothing from the store (default: the one publish-agent published last)')
    .option('--agent-config <file>', 'install this agent config (default: the bucket as the only source)')
    .action(async (flags: CommonFlags & { sha256?: string; agentConfig?: string }) => {
      const log = cliLogger(flags);
      const out = createOutput({ json: flags.json ?? false });
      const [{ userData }, { imageFiles }] = await Promise.all([import('./commands/user-data.ts'), import('./commands/image-files.ts')]);
      const result = await userData({
        store: await storeFor(flags, log), files: imageFiles(), out, log,
        ...(flags.sha256 !== undefined ? { sha256: flags.sha256 } : {}),
        ...(flags.agentConfig !== undefined ? { agentConfigFile: flags.agentConfig } : {}),
      });
      out.result(result.text.replace(/\n$/, ''), { ...result });
    });

  mirrorCommand(storeOptions(program.command('mirror')), cliLogger);

  program.command('iam-policy')
    .description('print the IAM policies an instance and a publisher need (least privilege)')
    .requiredOption('--bucket <name>', 'bucket the agents read and the publisher writes')
    .option('--prefix <prefix>', 'key prefix under the bucket', 'herd')
    .option('--role <role>', 'role the policies are for, or "*" for every role (not needed with --which image)')
    .option('--replica-bucket <name>', 'another bucket in the agents\' sources, e.g. a replica (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--which <policy>', 'instance, publisher, both, image (publish-agent, user-data) or all', 'both')
    .option('--partition <partition>', 'ARN partition: aws, aws-cn or aws-us-gov', 'aws')
    .option('--no-describe-tags', 'leave out ec2:DescribeTags (instances with metadata tags on never call it)')
    .option('--auto-scaling-group <name>', 'let instances complete the lifecycle hooks of this Auto Scaling group ("*" for any)')
    .option('--json', 'print the chosen policies as one JSON document: {instance, publisher, image}')
    .action(async (flags: { bucket: string; prefix: string; role?: string; replicaBucket: string[]; which: string; partition: string; describeTags: boolean; autoScalingGroup?: string; json?: boolean }) => {
      const { iamPolicies } = await import('./commands/iam-policy.ts');
      const result = iamPolicies({
        bucket: flags.bucket, prefix: flags.prefix, role: flags.role, replicaBuckets: flags.replicaBucket,
        which: flags.which, partition: flags.partition, describeTags: flags.describeTags,
        ...(flags.autoScalingGroup !== undefined ? { autoScalingGroup: flags.autoScalingGroup } : {}),
      });
      createOutput({ json: flags.json ?? false }).result(result.text, result.data);
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version print and exit 0; anything else commander refused is a usage error.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    return reportFailure(err);
  }
}

