// The commands that write a role's channel, as the CLI takes them: roll, rollback, pause,
// resume and resign, with the flags they share (--sign-key, --expires-in, --unsigned). Each
// command's code is loaded when it runs, as in main.ts.
import type { Command } from 'commander';
import type { Logger } from '../log.ts';
import { durationFlag, numberFlag } from '../flags.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { CommonFlags } from '../main.ts';
import { DEFAULT_CHANNEL_EXPIRES_IN_S, MAX_CHANNEL_EXPIRES_IN_S } from './defaults.ts';
import { actor, createOutput, type Output } from './output.ts';

/** What main.ts shares with these commands: its store flags, how it makes a store and a logger. */
export interface CliParts {
  storeOptions: (cmd: Command) => Command;
  storeFor: (flags: CommonFlags, log: Logger) => Promise<ObjectStore>;
  cliLogger: (flags: CommonFlags) => Logger;
}

interface ChannelFlags { signKey?: string; expiresIn?: number; unsigned?: boolean }

interface RollFlags {
  role: string; release: string; percent?: number; waves?: number; waveInterval?: number; maxFailures?: number; generation?: number;
  wait?: boolean; timeout?: number; staleAfter?: number;
}

const EXPIRES_IN_HELP = `how long the signed channel stays valid (7d, 36h, 90m; default ${DEFAULT_CHANNEL_EXPIRES_IN_S / 86_400}d)`;

/** The flags of every command that writes the channel: sign it, for how long, or write it unsigned over a signed one. */
function channelOptions(cmd: Command): Command {
  return cmd
    .option('--sign-key <file>', 'sign the channel with this ed25519 private key (from herd keygen): writes channel.json.sig')
    .option('--expires-in <duration>', EXPIRES_IN_HELP, durationFlag('expiresInS', MAX_CHANNEL_EXPIRES_IN_S))
    .option('--unsigned', 'write the channel unsigned although it is signed now (agents with trustedKeys then refuse it)');
}

async function channelWrite(flags: ChannelFlags) {
  const { channelWriteFlags } = await import('./sign-key.ts');
  return channelWriteFlags({
    ...(flags.signKey !== undefined ? { signKey: flags.signKey } : {}),
    ...(flags.expiresIn !== undefined ? { expiresInS: flags.expiresIn } : {}),
    unsigned: flags.unsigned ?? false,
  });
}

/** What people are told after a signed write: by which key, until when. */
function signedNote(out: Output, signedBy: string | null | undefined, expiresAt: string | undefined): void {
  if (signedBy) out.info(`signed by key ${signedBy}; valid until ${expiresAt} (extend it with herd resign before then)`);
}

export function channelCommands(program: Command, parts: CliParts): void {
  const { storeOptions, storeFor, cliLogger } = parts;

  channelOptions(storeOptions(program.command('roll')))
    .description('point the role\'s channel at a published release')
    .requiredOption('--role <role>', 'role')
    .requiredOption('--release <id>', 'published release id')
    .option('--percent <n>', 'share of instances that take it (0-100)', numberFlag('percent'))
    .option('--waves <n>', 'split the rollout into N waves', numberFlag('waves'))
    .option('--wave-interval <seconds>', 'seconds between waves', numberFlag('waveIntervalS'))
    .option('--max-failures <n>', 'halt the rollout once this many instances failed the release (default 1)', numberFlag('maxFailures'))
    .option('--generation <n>', 'the new generation, above the channel\'s (default one above; to get above what agents trust after the store was tampered with)', numberFlag('generation'))
    .option('--wait', 'follow the rollout until every instance in it runs the release healthy (exit 0), or it halts, an instance goes back or --timeout passes (exit 1)')
    .option('--timeout <seconds>', 'with --wait: how long to wait (default 900)', numberFlag('timeoutS'))
    .action(async (flags: CommonFlags & ChannelFlags & RollFlags) => {
      const log = cliLogger(flags);
      const out = createOutput({ json: flags.json ?? false });
      const { pausedNote, roll, rollWarning } = await import('./roll.ts');
      const write = await channelWrite(flags);
      const store = await storeFor(flags, log);
      const { channel, signedBy } = await roll({
        store, role: flags.role, release: flags.release, actor: actor(), log, write,
        ...(flags.percent !== undefined ? { percent: flags.percent } : {}),
        ...(flags.waves !== undefined ? { waves: flags.waves } : {}),
        ...(flags.waveInterval !== undefined ? { waveIntervalS: flags.waveInterval } : {}),
        ...(flags.maxFailures !== undefined ? { maxFailures: flags.maxFailures } : {}),
        ...(flags.generation !== undefined ? { generation: flags.generation } : {}),
      });
      for (const note of [pausedNote(channel), rollWarning(channel)]) if (note) out.info(`note: ${note}`);
      signedNote(out, signedBy, channel.expiresAt);
      const line = `${channel.role}: ${channel.previous ?? '(none)'} -> ${channel.release} (${channel.rollout.percent}%, generation ${channel.generation}${channel.paused ? ', paused' : ''})`;
      if (!flags.wait) {
        out.result(line, { channel, paused: channel.paused, signedBy });
        return;
      }
      out.info(line);
      const { followRollout } = await import('./rollout-wait.ts');
      await followRollout({ store, role: channel.role, generation: channel.generation, flags, out, log });
    });

  channelOptions(storeOptions(program.command('rollback')))
    .description('point the role\'s channel back at its previous release, on every instance at once')
    .requiredOption('--role <role>', 'role')
    .action(async (flags: CommonFlags & ChannelFlags & { role: string }) => {
      const log = cliLogger(flags);
      const out = createOutput({ json: flags.json ?? false });
      const { rollback, resumedNote } = await import('./rollback.ts');
      const write = await channelWrite(flags);
      const result = await rollback({ store: await storeFor(flags, log), role: flags.role, actor: actor(), log, write });
      const { channel } = result;
      const note = resumedNote(result);
      if (note) out.info(`note: ${note}`);
      signedNote(out, result.signedBy, channel.expiresAt);
      out.result(
        `${channel.role}: rolled back ${result.from} -> ${channel.release} (100% now, generation ${channel.generation}${result.wasPaused ? ', resumed' : ''})`,
        { ...result },
      );
    });

  channelOptions(storeOptions(program.command('pause')))
    .description('stop the role\'s rollout: agents keep what they run until resumed')
    .requiredOption('--role <role>', 'role')
    .action(async (flags: CommonFlags & ChannelFlags & { role: string }) => {
      const log = cliLogger(flags);
      const out = createOutput({ json: flags.json ?? false });
      const { describePause, setPaused } = await import('./pause.ts');
      const write = await channelWrite(flags);
      const result = await setPaused({ store: await storeFor(flags, log), role: flags.role, paused: true, actor: actor(), log, write });
      signedNote(out, result.signedBy, result.channel.expiresAt);
      out.result(describePause(result), { ...result });
    });

  channelOptions(storeOptions(program.command('resume')))
    .description('continue the role\'s paused rollout')
    .requiredOption('--role <role>', 'role')
    .action(async (flags: CommonFlags & ChannelFlags & { role: string }) => {
      const log = cliLogger(flags);
      const out = createOutput({ json: flags.json ?? false });
      const { describePause, setPaused } = await import('./pause.ts');
      const write = await channelWrite(flags);
      const result = await setPaused({ store: await storeFor(flags, log), role: flags.role, paused: false, actor: actor(), log, write });
      signedNote(out, result.signedBy, result.channel.expiresAt);
      out.result(describePause(result), { ...result });
    });

  storeOptions(program.command('resign'))
    .description('sign the role\'s channel again with a later expiry (for a scheduled job); nothing else changes')
    .requiredOption('--role <role>', 'role')
    .requiredOption('--sign-key <file>', 'ed25519 private key (from herd keygen)')
    .option('--expires-in <duration>', EXPIRES_IN_HELP, durationFlag('expiresInS', MAX_CHANNEL_EXPIRES_IN_S))
    .option('--trusted-key <key>', 'also accept the channel found when signed by this public key (repeatable; a key being rotated out)', (v: string, all: string[]) => [...all, v], [] as string[])
    .action(async (flags: CommonFlags & { role: string; signKey: string; expiresIn?: number; trustedKey: string[] }) => {
      const log = cliLogger(flags);
      const out = createOutput({ json: flags.json ?? false });
      const [{ describeResign, resign }, { channelSigning }, { parseTrustedKeys }] = await Promise.all([
        import('./resign.ts'), import('./sign-key.ts'), import('../signing/keys.ts'),
      ]);
      const trusted = parseTrustedKeys(flags.trustedKey);
      const signing = await channelSigning({ signKey: flags.signKey, ...(flags.expiresIn !== undefined ? { expiresInS: flags.expiresIn } : {}) });
      const result = await resign({ store: await storeFor(flags, log), role: flags.role, signing, trusted, log });
      out.result(describeResign(result), { ...result });
    });

}
