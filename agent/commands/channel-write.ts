// The one way the commands rewrite a role's channel (roll, rollback, pause, resume, resign):
// read it with its ETag, its exact bytes and its signature object; write the next one.
//
// Signed (--sign-key), the detached signature over the new channel's exact bytes is written
// first and the channel right after, as publish writes a release's signature before its
// manifest: an agent reads the channel, then (only when it changed) the signature, so one that
// sees the new channel finds its signature. One that reads the signature between the two
// writes (an agent just started, or one already refusing the channel) sees a signature of
// other bytes: not yet consistent, it keeps what it runs and reads both again at its next poll.
// Both writes are conditional on the ETags read (If-Match, or If-None-Match when absent), so
// the signature object is the lock between two signers; if the channel write is then refused,
// the old signature is put back.
import { ConflictError, UsageError, describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { SigningKey } from '../signing/keys.ts';
import { encodeSignature, signBytes } from '../signing/signature.ts';
import { encodeDocument, type ObjectStore, type WriteCondition } from '../store/object-store.ts';
import type { Channel } from '../store/schemas.ts';

export interface ChannelSigning {
  key: SigningKey;
  /** How long the signed channel is valid: its expiresAt is now plus this. */
  expiresInS: number;
}

/** What a command writes the channel with: a key, or none; `unsigned` writes unsigned over a signed channel. */
export interface ChannelWriteFlags {
  signing?: ChannelSigning | null;
  unsigned?: boolean;
}

/** The channel as a command found it. */
export interface CurrentChannel {
  role: string;
  channel: Channel | null;
  /** Its exact bytes (null without a channel). */
  bytes: Buffer | null;
  etag: string | null;
  /** Its signature object as stored, or null when it is unsigned. */
  signature: { bytes: Buffer; etag: string | null } | null;
}

export async function readChannelForWrite(store: ObjectStore, role: string): Promise<CurrentChannel> {
  const [read, signature] = await Promise.all([store.getChannel(role), store.getChannelSignature(role)]);
  if (read.kind !== 'found') return { role, channel: null, bytes: null, etag: null, signature };
  return { role, channel: read.channel, bytes: read.bytes, etag: read.etag, signature };
}

export interface WrittenChannel {
  channel: Channel;
  /** Key id of the signature written; null when unsigned. */
  signedBy: string | null;
}

/**
 * Writes `next` over `current`: with a key, `expiresAt` set and its signature written first;
 * without, `expiresAt` left out, and refused (UsageError) over a signed channel unless
 * `unsigned`, since agents with trustedKeys would refuse it.
 */
export async function writeChannel(input: {
  store: ObjectStore; current: CurrentChannel; next: Channel; flags: ChannelWriteFlags; now: Date; log: Logger;
}): Promise<WrittenChannel> {
  const { store, current, flags } = input;
  const signing = flags.signing ?? null;
  const { expiresAt: _old, ...rest } = input.next;
  const channel: Channel = signing ? { ...rest, expiresAt: new Date(input.now.getTime() + signing.expiresInS * 1000).toISOString() } : rest;
  const channelCondition: WriteCondition = current.channel ? { ifMatch: current.etag } : { ifNoneMatch: true };
  const bytes = encodeDocument(channel);
  if (!signing) {
    if (current.signature && !flags.unsigned) {
      throw new UsageError(`channel ${channel.role} is signed (${store.layout.channelSignature(channel.role)}): sign this change too with --sign-key FILE, `
        + 'or pass --unsigned to write it unsigned (agents with trustedKeys then refuse it and keep what they run)');
    }
    await store.putChannelBytes(channel.role, bytes, channelCondition);
    return { channel, signedBy: null };
  }
  const signature = encodeSignature(signBytes(bytes, signing.key));
  let ours: string | null;
  try {
    ours = await store.putChannelSignature(channel.role, signature, current.signature ? { ifMatch: current.signature.etag } : { ifNoneMatch: true });
  } catch (err) {
    if (err instanceof ConflictError) throw new ConflictError(`channel ${channel.role}'s signature changed since it was read (another operator?); nothing was written, run the command again`, { cause: err });
    throw err;
  }
  try {
    await store.putChannelBytes(channel.role, bytes, channelCondition);
  } catch (err) {
    await putBackSignature({ ...input, signature: current.signature, ours }).catch((restore: unknown) => {
      input.log.error({ err: describeError(restore) }, 'cannot put the old channel signature back; agents with trustedKeys keep what they run until the channel is signed again');
    });
    throw err;
  }
  input.log.info({ role: channel.role, generation: channel.generation, keyId: signing.key.keyId, expiresAt: channel.expiresAt }, 'channel signed');
  return { channel, signedBy: signing.key.keyId };
}

/** The channel write failed after its signature was written: the channel there keeps the signature it had. */
async function putBackSignature(input: { store: ObjectStore; current: CurrentChannel; signature: CurrentChannel['signature']; ours: string | null }): Promise<void> {
  // Without an old signature there is nothing to put back (nothing is ever deleted): the
  // signature left names bytes that are not in the store, which agents refuse as such.
  if (!input.signature) return;
  await input.store.putChannelSignature(input.current.role, input.signature.bytes, input.ours ? { ifMatch: input.ours } : {});
}
