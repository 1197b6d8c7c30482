// herd resign: signs the role's channel again with a later expiresAt, for a scheduled job, so
// that agents with trustedKeys keep following it (they refuse an expired channel: a freeze).
//
// Only expiresAt changes. The generation stays: it names the rollout (a release that failed
// on an instance is not retried until the generation changes, and a re-sign is no change of
// the rollout), and so do updatedAt (a paused rollout's resume counts from it) and
// updatedBy. Agents take the same generation again only when it expires later, so an older
// signing of it cannot be replayed; resign therefore refuses an expiry that is not later.
// It signs only what a trusted key signed: the channel in the store must verify by the
// signing key (or a --trusted-key), else a job would sign whatever someone wrote there.
import { IntegrityError, UsageError } from '../errors.ts';
import { parseFlag } from '../flags.ts';
import type { Logger } from '../log.ts';
import { parseTrustedKey, type TrustedKey } from '../signing/keys.ts';
import { checkSignature, keyIds } from '../signing/signature.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { roleSchema, type Channel } from '../store/schemas.ts';
import { readChannelForWrite, writeChannel, type ChannelSigning } from './channel-write.ts';

export interface ResignInput {
  store: ObjectStore;
  role: string;
  signing: ChannelSigning;
  /** Keys besides the signing key's own whose signature on the channel found is accepted (a key being rotated out). */
  trusted?: readonly TrustedKey[];
  log: Logger;
  now?: Date;
}

export interface ResignResult {
  channel: Channel;
  signedBy: string;
  /** The expiresAt the channel had before; null when it had none. */
  previousExpiresAt: string | null;
}

export async function resign(input: ResignInput): Promise<ResignResult> {
  const role = parseFlag('role', roleSchema, input.role);
  const current = await readChannelForWrite(input.store, role);
  const { channel, bytes, signature } = current;
  if (!channel || !bytes) throw new UsageError(`role ${role} has no channel yet; nothing to re-sign (run herd roll --sign-key first)`);
  if (!signature) {
    throw new UsageError(`channel ${role} is not signed; herd resign only extends a signed channel's expiry. `
      + `Sign it once with a change: herd roll --role ${role} --release ${channel.release} --sign-key FILE`);
  }
  const trusted = [parseTrustedKey(input.signing.key.trustedKey), ...(input.trusted ?? [])];
  const where = input.store.layout.channelSignature(role);
  const check = checkSignature({ bytes, signature: signature.bytes, trusted, where });
  if (!check.ok) {
    const why = check.problem === 'unreadable' ? check.detail
      : check.problem === 'unknown-key' ? `it is signed by key ${check.keyId}, not by ${keyIds(trusted)}`
        : check.problem === 'mismatch' ? `the signature by key ${check.keyId} does not match the channel's bytes` : 'it is not signed';
    throw new IntegrityError(`channel ${role} generation ${channel.generation} in the store does not verify (${why}): resign signs only what a trusted key signed. `
      + 'Check it with herd status; if another key of yours signed it, pass its public key with --trusted-key');
  }
  const now = input.now ?? new Date();
  const expiresAt = new Date(now.getTime() + input.signing.expiresInS * 1000).toISOString();
  if (channel.expiresAt !== undefined && Date.parse(expiresAt) <= Date.parse(channel.expiresAt)) {
    throw new UsageError(`--expires-in would end at ${expiresAt}, not after the channel's expiresAt ${channel.expiresAt}; `
      + 'agents take a re-signed channel only when it expires later: give a longer --expires-in');
  }
  const written = await writeChannel({ store: input.store, current, next: channel, flags: { signing: input.signing }, now, log: input.log });
  input.log.info({ role, generation: channel.generation, expiresAt: written.channel.expiresAt, previousExpiresAt: channel.expiresAt ?? null }, 'channel re-signed');
  return { channel: written.channel, signedBy: input.signing.key.keyId, previousExpiresAt: channel.expiresAt ?? null };
}

/** Pure: the line people see, e.g. "web: generation 7 re-signed by key 93c8…, expires 2026-12-08T… (was 2026-12-01T…)". */
export function describeResign(result: ResignResult): string {
  const { channel } = result;
  return `${channel.role}: generation ${channel.generation} re-signed by key ${result.signedBy}, expires ${channel.expiresAt}`
    + ` (was ${result.previousExpiresAt ?? 'none'})`;
}
