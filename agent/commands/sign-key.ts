// --sign-key and --expires-in, as the commands that sign take them: the private key file
// read and parsed before anything is written, and how long a signed channel stays valid.
import { readFile } from 'node:fs/promises';
import { ConfigError, UsageError } from '../errors.ts';
import { parseSigningKey, type SigningKey } from '../signing/keys.ts';
import type { ChannelSigning, ChannelWriteFlags } from './channel-write.ts';
import { DEFAULT_CHANNEL_EXPIRES_IN_S } from './defaults.ts';

/** A private key file from `herd keygen` (PKCS8 PEM), or a ConfigError (exit 2) naming --sign-key. */
export async function readSigningKey(file: string): Promise<SigningKey> {
  const pem = await readFile(file, 'utf8').catch((err) => { throw new ConfigError(`--sign-key ${file}: cannot read (${(err as Error).message})`, { cause: err }); });
  return parseSigningKey(pem, `--sign-key ${file}`);
}

/** The channel-writing flags of roll, rollback, pause and resume, checked together; the key is read now. */
export async function channelWriteFlags(flags: { signKey?: string; expiresInS?: number; unsigned?: boolean }): Promise<ChannelWriteFlags> {
  if (flags.signKey === undefined) {
    if (flags.expiresInS !== undefined) throw new UsageError('--expires-in sets when a signed channel expires: it needs --sign-key FILE');
    return { signing: null, unsigned: flags.unsigned ?? false };
  }
  if (flags.unsigned) throw new UsageError('--unsigned and --sign-key contradict each other: give one');
  return { signing: await channelSigning({ signKey: flags.signKey, ...(flags.expiresInS !== undefined ? { expiresInS: flags.expiresInS } : {}) }) };
}

export async function channelSigning(flags: { signKey: string; expiresInS?: number }): Promise<ChannelSigning> {
  return { key: await readSigningKey(flags.signKey), expiresInS: flags.expiresInS ?? DEFAULT_CHANNEL_EXPIRES_IN_S };
}
