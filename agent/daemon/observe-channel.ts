// Reads the channel for a pass, and with trustedKeys judges whether it may be followed
// (signing/channel-trust.ts): signed by a trusted key, not older than the newest channel
// trusted here, not expired. Sets the ChannelRead and ChannelTrusted conditions, and keeps the
// record of the newest trusted channel in the data directory (channel-trust.json) before
// anything acts on it, so a restart still refuses what is older.
//
// Requests: an unchanged channel costs one conditional GET (a 304) per poll; its signature
// is read only when the channel changed, or, while the channel is refused, at every poll (a
// signature written just after its channel is then picked up). The verdict is made again at
// every poll from what was read, so a channel that expires is refused without any new read.
import { describeError } from '../errors.ts';
import { judgeChannel, judgedOf } from '../signing/channel-trust.ts';
import type { ChannelResult } from '../store/sources.ts';
import type { Context } from './context.ts';
import type { ChannelView } from './decide.ts';

export async function readChannel(ctx: Context): Promise<ChannelView> {
  const { conditions, parts, memory } = ctx;
  const checking = parts.trusted.length > 0;
  let read: ChannelResult;
  try {
    read = await parts.sources.channel(parts.identity.role, !checking ? 'skip' : memory.channelTrust.refused ? 'again' : 'when-changed');
  } catch (err) {
    const error = `following the channel failed; the running app keeps serving: ${describeError(err)}`;
    ctx.log.error({ err: describeError(err) }, 'following the channel failed; the running app keeps serving');
    conditions.set('ChannelRead', false, 'Unreachable', error);
    return { kind: 'unreachable', error };
  }
  if (read.kind === 'absent') {
    conditions.set('ChannelRead', false, 'NoChannel', read.detail);
    return read;
  }
  conditions.set('ChannelRead', true, 'Read');
  if (!checking) {
    conditions.set('ChannelTrusted', true, 'NotRequired');
    return { kind: 'found', channel: read.channel };
  }
  return judge(ctx, read);
}

async function judge(ctx: Context, read: Extract<ChannelResult, { kind: 'found' }>): Promise<ChannelView> {
  const { conditions, parts, memory } = ctx;
  const trust = memory.channelTrust;
  const signature = read.signature ?? null;
  const store = parts.sources.stores.find((s) => s.name === read.source);
  const where = `${read.source}/${store?.layout.channelSignature(read.channel.role) ?? 'channel.json.sig'}`;
  const verdict = judgeChannel({
    channel: read.channel, bytes: read.bytes, signature, trusted: parts.trusted, record: trust.record, last: trust.last,
    nowMs: ctx.clock.now(), where,
  });
  trust.last = judgedOf(read.bytes, signature);
  trust.refused = verdict.kind !== 'accept';
  const { generation, role } = read.channel;
  switch (verdict.kind) {
    case 'accept':
      if (verdict.changed && verdict.record) {
        await parts.dataDir.writeChannelTrust(verdict.record).catch((err: unknown) => {
          ctx.log.error({ err: describeError(err), file: parts.dataDir.trustFile }, 'cannot write channel-trust.json; a restart would not remember this channel');
        });
        trust.record = verdict.record;
        ctx.log.info({ role, generation, expiresAt: verdict.record.expiresAt, keyId: verdict.record.keyId, source: read.source }, 'signed channel trusted');
      }
      conditions.set('ChannelTrusted', true, 'Verified');
      return { kind: 'found', channel: read.channel };
    case 'pending':
      ctx.log.info({ role, generation, source: read.source, detail: verdict.message }, 'channel not yet consistent with its signature; keeping what runs');
      conditions.set('ChannelTrusted', false, 'NotYetConsistent');
      return { kind: 'refused', error: verdict.message };
    case 'refuse': {
      const message = `${verdict.message}; the running app keeps serving`;
      // Logged when it changes, not at every poll it stays so.
      if (conditions.get('ChannelTrusted').message !== message) {
        ctx.log.error({ role, generation, reason: verdict.reason, source: read.source, detail: verdict.message }, 'channel refused; the running app keeps serving');
      }
      conditions.set('ChannelTrusted', false, verdict.reason, message);
      return { kind: 'refused', error: message };
    }
  }
}
