// judgeChannel as a table: whether an agent follows a channel, from its bytes, its signature,
// the trusted keys, the newest channel trusted here before and the time. No I/O.
import { describe, expect, it } from 'vitest';
import {
  EXPIRY_SKEW_MS, digestOf, judgeChannel, judgedOf, type ChannelVerdict, type JudgeInput, type TrustRecord,
} from '../../agent/signing/channel-trust.ts';
import { generateSigningKeyPair, parseSigningKey, parseTrustedKey } from '../../agent/signing/keys.ts';
import { encodeSignature, signBytes } from '../../agent/signing/signature.ts';
import { encodeDocument } from '../../agent/store/object-store.ts';
import type { Channel } from '../../agent/store/schemas.ts';

const NOW = Date.parse('2026-11-22T12:00:00.000Z');
const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const pairs = [generateSigningKeyPair(), generateSigningKeyPair(), generateSigningKeyPair()];
const [alice, bob, mallory] = pairs.map((p) => ({ ...p, signer: parseSigningKey(p.privatePem, 'k'), trusted: parseTrustedKey(p.trustedKey) })) as [Key, Key, Key];
type Key = (typeof pairs)[number] & { signer: ReturnType<typeof parseSigningKey>; trusted: ReturnType<typeof parseTrustedKey> };

function channel(generation: number, over: Partial<Channel> = {}): Channel {
  return {
    schema: 'herd/channel@1', role: 'web', release: `v${generation}`, previous: null,
    rollout: { percent: 100, waves: 1, waveIntervalS: 0, startedAt: iso(NOW - DAY) },
    paused: false, generation, updatedAt: iso(NOW - DAY), updatedBy: 'ops@ci', expiresAt: iso(NOW + 6 * DAY), ...over,
  };
}
const bytesOf = (c: Channel) => encodeDocument(c);
const sigOf = (c: Channel | Buffer, key: Key = alice) => encodeSignature(signBytes(Buffer.isBuffer(c) ? c : bytesOf(c), key.signer));
function recordOf(c: Channel, trustedAt = iso(NOW - DAY)): TrustRecord {
  return { schema: 'herd/channel-trust@1', role: c.role, generation: c.generation, expiresAt: c.expiresAt as string, digest: digestOf(bytesOf(c)), keyId: alice.keyId, trustedAt };
}

/** A channel signed by alice, judged by an agent that trusts alice, with gen7 (expiring in 6 days) trusted before. */
const gen7 = channel(7);
function judge(c: Channel, over: Partial<JudgeInput> & { seenBefore?: boolean } = {}): ChannelVerdict {
  const bytes = over.bytes ?? bytesOf(c);
  const signature = over.signature === undefined ? sigOf(c) : over.signature;
  const { seenBefore = true, ...rest } = over;
  return judgeChannel({
    channel: c, bytes, signature, trusted: [alice.trusted], record: recordOf(gen7), nowMs: NOW, where: 'herd/roles/web/channel.json.sig',
    last: seenBefore ? judgedOf(bytes, signature) : null, ...rest,
  });
}

const tampered = Buffer.from(bytesOf(channel(8)).toString().replace('"v8"', '"v1"'));
const resigned = { ...gen7, expiresAt: iso(NOW + 7 * DAY) };
const resignedEarlier = { ...gen7, expiresAt: iso(NOW + 5 * DAY) };

const cases: Array<[string, Channel, Parameters<typeof judge>[1], ChannelVerdict['kind'], string?, RegExp?]> = [
  ['no trustedKeys configured: an unsigned channel is followed', channel(3), { signature: null, trusted: [], record: null }, 'accept'],
  ['a correctly signed newer generation', channel(8), {}, 'accept'],
  ['the channel trusted before, unchanged', gen7, {}, 'accept'],
  ['the first signed channel this instance sees', channel(2), { record: null }, 'accept'],
  ['signed by the second of two trusted keys (rotation)', channel(8), { signature: sigOf(channel(8), bob), trusted: [alice.trusted, bob.trusted] }, 'accept'],
  ['the same generation re-signed to expire later (herd resign)', resigned, {}, 'accept'],
  ['another role\'s record does not count', channel(2), { record: { ...recordOf(gen7), role: 'api' } }, 'accept'],
  ['expired, but within the clock-skew margin', channel(8, { expiresAt: iso(NOW - EXPIRY_SKEW_MS + 1000) }), {}, 'accept'],
  ['unsigned', channel(8), { signature: null }, 'refuse', 'Unsigned', /^channel refused, unsigned: channel web generation 8 has no herd\/roles\/web\/channel.json.sig/],
  ['bytes changed after signing', channel(8), { bytes: tampered, signature: sigOf(channel(8)) }, 'refuse', 'BadSignature', /bad signature: .*does not match the channel's bytes/],
  ['a signature object that does not parse', channel(8), { signature: Buffer.from('{"sig": 1}') }, 'refuse', 'BadSignature', /channel.json.sig: /],
  ['a signature by another key claiming a trusted id', channel(8), {
    signature: Buffer.from(JSON.stringify({ ...JSON.parse(sigOf(channel(8)).toString()), sig: signBytes(bytesOf(channel(8)), mallory.signer).sig })),
  }, 'refuse', 'BadSignature', /does not match/],
  ['signed by a key not in trustedKeys', channel(8), { signature: sigOf(channel(8), mallory) }, 'refuse', 'UnknownKey', new RegExp(`signed by key ${mallory.keyId}, which is not in trustedKeys \\(${alice.keyId}\\)`)],
  ['signed without expiresAt', channel(8, { expiresAt: undefined }), {}, 'refuse', 'NoExpiry', /has no expiresAt/],
  ['a lower generation (rollback)', channel(6), {}, 'refuse', 'Rollback', /^channel refused, rollback: channel web generation 6 is older than generation 7/],
  ['the same generation with other content, expiring no later', { ...gen7, release: 'v1' }, {}, 'refuse', 'Rollback', /differs from the generation 7 trusted here/],
  ['the same generation signed earlier (a replayed older signing)', resignedEarlier, {}, 'refuse', 'Rollback', /does not expire later/],
  ['expired (freeze)', channel(8, { expiresAt: iso(NOW - EXPIRY_SKEW_MS - 1000) }), {}, 'refuse', 'Expired', /^channel refused, expired: channel web generation 8 expired at .*herd resign --role web/],
  ['the channel trusted before, now expired', gen7, { nowMs: NOW + 6 * DAY + EXPIRY_SKEW_MS + 1 }, 'refuse', 'Expired'],
  ['a lower generation that is also expired is named a rollback', channel(6, { expiresAt: iso(NOW - DAY) }), {}, 'refuse', 'Rollback'],
];

describe('judgeChannel', () => {
  it.each(cases)('%s', (_name, c, over, kind, reason, message) => {
    const verdict = judge(c, over);
    expect(verdict.kind).toBe(kind);
    if (verdict.kind === 'refuse') {
      expect(verdict.reason).toBe(reason);
      if (message) expect(verdict.message).toMatch(message);
    }
  });

  it('keeps a record of the newer channel it accepts, and says when it changed', () => {
    const verdict = judge(channel(8), { signature: sigOf(channel(8), bob), trusted: [alice.trusted, bob.trusted] });
    expect(verdict).toEqual({
      kind: 'accept', changed: true,
      record: { schema: 'herd/channel-trust@1', role: 'web', generation: 8, expiresAt: iso(NOW + 6 * DAY), digest: digestOf(bytesOf(channel(8))), keyId: bob.keyId, trustedAt: iso(NOW) },
    });
    expect(judge(gen7)).toEqual({ kind: 'accept', changed: false, record: recordOf(gen7) });
    expect(judge(resigned)).toMatchObject({ kind: 'accept', changed: true, record: { generation: 7, expiresAt: resigned.expiresAt } });
  });

  describe('a signature problem on bytes not judged before is a write in progress, not yet a refusal', () => {
    it.each([
      ['the channel written, its signature not yet (the old one is there)', channel(8), { signature: sigOf(gen7) }],
      ['the first signed write: no signature yet', channel(8), { signature: null }],
      ['the signature by a key not trusted any more, the new one not yet written', channel(8), { signature: sigOf(gen7, mallory) }],
    ])('%s', (_name, c, over) => {
      const first = judge(c, { ...over, seenBefore: false });
      expect(first.kind).toBe('pending');
      expect(first.kind === 'pending' && first.message).toMatch(/^channel web generation 8 is not yet consistent with its signature .*checking again at the next poll$/);
      expect(judge(c, { ...over, seenBefore: true }).kind).toBe('refuse');
    });

    it('a signature problem is refused straight away only once the same pair was judged before', () => {
      const signature = sigOf(gen7);
      const last = judgedOf(bytesOf(channel(8)), sigOf(channel(8)));
      expect(judge(channel(8), { signature, seenBefore: false, last }).kind).toBe('pending');
    });

    it('a rollback or an expiry is refused at once: the signature is fine, waiting changes nothing', () => {
      expect(judge(channel(6), { seenBefore: false }).kind).toBe('refuse');
      expect(judge(channel(8, { expiresAt: iso(NOW - DAY) }), { seenBefore: false }).kind).toBe('refuse');
    });
  });
});
