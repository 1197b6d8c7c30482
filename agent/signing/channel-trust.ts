// Whether an agent with trustedKeys follows a channel. Pure: the agent reads the channel, its
// signature and the record of what it trusted before (daemon/observe-channel.ts); this decides.
//
// A channel is followed when its detached signature (channel.json.sig) over its exact bytes is
// by a trusted key, it carries expiresAt and has not passed it (a freeze: someone keeps serving
// an old channel so that a fix never arrives), and it is not older than the newest channel
// this instance trusted before (a rollback: someone puts back an old, validly signed channel).
// "Older" is by generation, and within one generation by expiresAt: `herd resign` extends a
// channel's expiry without a new generation, so a replay of the same generation signed
// earlier is older too. The record of the newest trusted channel is kept on disk.
import { createHash } from 'node:crypto';
import * as z from '../zod.ts';
import { roleSchema, type Channel } from '../store/schemas.ts';
import type { TrustedKey } from './keys.ts';
import { checkSignature, keyIds, type SignatureCheck } from './signature.ts';

/**
 * How far this instance's clock may be behind the signer's before a channel counts as
 * expired late, or ahead before it counts as expired early. Channels live for days
 * (`herd resign`), EC2 clocks are kept within a millisecond by the Amazon Time Sync Service,
 * and an operator's laptop is rarely minutes off: five minutes (Kerberos' default) costs
 * nothing against a freeze and never refuses a channel for a slightly fast clock.
 */
export const EXPIRY_SKEW_MS = 5 * 60_000;

export const TRUST_SCHEMA = 'herd/channel-trust@1';

/** channel-trust.json in the data directory: the newest signed channel this instance followed. */
export const trustRecordSchema = z.strictObject({
  schema: z.literal(TRUST_SCHEMA),
  role: roleSchema,
  generation: z.int().check(z.minimum(1)),
  expiresAt: z.iso.datetime(),
  /** sha256 of the channel's exact bytes: the same generation and expiry with other bytes is not the channel trusted. */
  digest: z.string().check(z.regex(/^sha256:[0-9a-f]{64}$/)),
  keyId: z.string(),
  trustedAt: z.iso.datetime(),
});
export type TrustRecord = z.infer<typeof trustRecordSchema>;

export type ChannelRefusal =
  /** No channel.json.sig. */
  | 'Unsigned'
  /** A signature object that does not parse, or does not match the channel's bytes. */
  | 'BadSignature'
  /** Signed by a key that is not in trustedKeys. */
  | 'UnknownKey'
  /** Signed, but without expiresAt: it could be replayed for ever. */
  | 'NoExpiry'
  /** Older than the channel trusted here (lower generation, or the same one signed earlier). */
  | 'Rollback'
  /** Past its expiresAt (and the clock-skew margin). */
  | 'Expired';

export type ChannelVerdict =
  /** Follow it. `record`: what to keep on disk now (null without trustedKeys); `changed`: it differs from the record given. */
  | { kind: 'accept'; record: TrustRecord | null; changed: boolean }
  /**
   * A signature problem on bytes not judged before: an operator's write in progress (the
   * channel is written first, its signature right after) looks the same. Not followed; the
   * signature is read again at the next poll, and the same problem then is a refusal.
   */
  | { kind: 'pending'; message: string }
  | { kind: 'refuse'; reason: ChannelRefusal; message: string };

/** What the last verdict was about: a verdict on the same pair again is no longer "in progress". */
export interface Judged {
  digest: string;
  signatureDigest: string | null;
}

export interface JudgeInput {
  channel: Channel;
  /** The channel's exact bytes, as read. */
  bytes: Buffer;
  /** The signature object's bytes, or null when there is none. */
  signature: Buffer | null;
  trusted: readonly TrustedKey[];
  /** The newest channel trusted here before (any role's; another role's is ignored). */
  record: TrustRecord | null;
  /** The pair the previous verdict was about, if any. */
  last: Judged | null;
  nowMs: number;
  /** The signature's object key, for messages. */
  where: string;
}

export function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** What `judgeChannel` judged: pass it back as `last` next time. */
export function judgedOf(bytes: Buffer, signature: Buffer | null): Judged {
  return { digest: digestOf(bytes), signatureDigest: signature ? digestOf(signature) : null };
}

export function judgeChannel(input: JudgeInput): ChannelVerdict {
  const { channel, trusted } = input;
  if (trusted.length === 0) return { kind: 'accept', record: null, changed: false };
  const it = `channel ${channel.role} generation ${channel.generation}`;
  const check = checkSignature({ bytes: input.bytes, signature: input.signature, trusted, where: input.where });
  if (!check.ok) {
    const [reason, why] = signatureRefusal(check, it, input);
    const judged = judgedOf(input.bytes, input.signature);
    const seenBefore = input.last?.digest === judged.digest && input.last.signatureDigest === judged.signatureDigest;
    if (!seenBefore) return { kind: 'pending', message: `${it} is not yet consistent with its signature (${why}); checking again at the next poll` };
    return refuse(reason, why);
  }
  if (channel.expiresAt === undefined) {
    return refuse('NoExpiry', `${it} is signed but has no expiresAt, so it could be replayed for ever; sign it again with herd resign --role ${channel.role}`);
  }
  const digest = digestOf(input.bytes);
  const record = input.record?.role === channel.role ? input.record : null;
  const expiresMs = Date.parse(channel.expiresAt);
  if (record && channel.generation < record.generation) {
    return refuse('Rollback', `${it} is older than generation ${record.generation}, trusted here since ${record.trustedAt}: a replay of an older signed channel`);
  }
  if (record && channel.generation === record.generation && digest !== record.digest && expiresMs <= Date.parse(record.expiresAt)) {
    return refuse('Rollback', `${it} differs from the generation ${record.generation} trusted here and does not expire later (${channel.expiresAt}, trusted ${record.expiresAt}): a replay of an older signing`);
  }
  if (input.nowMs > expiresMs + EXPIRY_SKEW_MS) {
    return refuse('Expired', `${it} expired at ${channel.expiresAt} (${EXPIRY_SKEW_MS / 60_000} min of clock skew allowed); sign it again with herd resign --role ${channel.role}`);
  }
  if (record && record.digest === digest) return { kind: 'accept', record, changed: false };
  return {
    kind: 'accept', changed: true,
    record: {
      schema: TRUST_SCHEMA, role: channel.role, generation: channel.generation, expiresAt: channel.expiresAt,
      digest, keyId: check.key.keyId, trustedAt: new Date(input.nowMs).toISOString(),
    },
  };
}

/** `channel refused, rollback: channel web generation 5 is older than ...`: the reason first, so a shortened line still says it. */
function refuse(reason: ChannelRefusal, why: string): ChannelVerdict {
  return { kind: 'refuse', reason, message: `channel refused, ${REASON_WORDS[reason]}: ${why}` };
}

const REASON_WORDS: Record<ChannelRefusal, string> = {
  Unsigned: 'unsigned', BadSignature: 'bad signature', UnknownKey: 'unknown key', NoExpiry: 'no expiry', Rollback: 'rollback', Expired: 'expired',
};

function signatureRefusal(check: Exclude<SignatureCheck, { ok: true }>, it: string, input: JudgeInput): [ChannelRefusal, string] {
  switch (check.problem) {
    case 'unsigned':
      return ['Unsigned', `${it} has no ${input.where}; trustedKeys is set, so only signed channels are followed here`];
    case 'unreadable':
      return ['BadSignature', check.detail];
    case 'unknown-key':
      return ['UnknownKey', `${it} is signed by key ${check.keyId}, which is not in trustedKeys (${keyIds(input.trusted)})`];
    case 'mismatch':
      return ['BadSignature', `${it}: the signature by key ${check.keyId} does not match the channel's bytes (changed after signing, or a bad signature)`];
  }
}
