// Detached signatures over a manifest's exact bytes: what verifies, and the reason given for
// everything that does not (no signature, unknown key, changed bytes, a broken object).
import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../../agent/errors.ts';
import { generateSigningKeyPair, parseSigningKey, parseTrustedKey } from '../../agent/signing/keys.ts';
import { encodeSignature, readSignature, signBytes, verifySignature, type SignatureDoc } from '../../agent/signing/signature.ts';

const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();
const aliceSigner = parseSigningKey(alice.privatePem, 'alice.key');
const bobSigner = parseSigningKey(bob.privatePem, 'bob.key');
const trusted = [parseTrustedKey(alice.trustedKey)];

const manifest = Buffer.from(`${JSON.stringify({
  schema: 'herd/release@1', role: 'web', id: 'v1', createdAt: '2026-11-22T10:00:00.000Z',
  code: { digest: `sha256:${'a'.repeat(64)}`, size: 10 }, config: null,
  run: { command: ['node', 's.mjs'], port: 8080, health: { path: '/h', timeoutS: 5 } },
}, null, 2)}\n`);
const signed = encodeSignature(signBytes(manifest, aliceSigner));

const check = (bytes: Buffer, signature: Buffer | null, keys = trusted) =>
  verifySignature({ bytes, signature, trusted: keys, what: 'release web/v1', where: 'roles/web/releases/v1.json.sig' });
const doc = (over: Partial<Record<keyof SignatureDoc, unknown>>) => Buffer.from(JSON.stringify({ ...readSignature(signed, 's'), ...over }));

describe('sign and verify', () => {
  it('verifies with the trusted key that signed, found among others', () => {
    expect(check(manifest, signed).keyId).toBe(alice.keyId);
    expect(check(manifest, signed, [parseTrustedKey(bob.trustedKey), ...trusted]).keyId).toBe(alice.keyId);
  });

  it('writes the documented object', () => {
    const parsed = JSON.parse(signed.toString('utf8'));
    expect(parsed).toEqual({ schema: 'herd/signature@1', alg: 'ed25519', keyId: alice.keyId, sig: expect.any(String) });
    expect(Buffer.from(parsed.sig, 'base64')).toHaveLength(64);
  });

  it.each([0, 1, 40, manifest.length - 2, manifest.length - 1])('refuses the manifest with byte %i changed', (at) => {
    const tampered = Buffer.from(manifest);
    tampered[at] = (tampered[at] as number) ^ 0x01;
    expect(() => check(tampered, signed)).toThrowError(IntegrityError);
    expect(() => check(tampered, signed)).toThrowError(`release web/v1: the signature by key ${alice.keyId} does not match the manifest's bytes`);
  });

  it('covers the exact bytes: the same JSON written another way does not verify', () => {
    const compact = Buffer.from(JSON.stringify(JSON.parse(manifest.toString('utf8'))));
    expect(() => check(compact, signed)).toThrowError('does not match');
    expect(() => check(Buffer.concat([manifest, Buffer.from('\n')]), signed)).toThrowError('does not match');
  });
});

describe('refusals name the release and the reason', () => {
  it('no signature', () => {
    expect(() => check(manifest, null)).toThrowError('release web/v1 is not signed (no roles/web/releases/v1.json.sig); trustedKeys is set');
  });

  it('a key that is not trusted', () => {
    const byBob = encodeSignature(signBytes(manifest, bobSigner));
    expect(() => check(manifest, byBob)).toThrowError(`release web/v1 is signed by key ${bob.keyId}, which is not in trustedKeys (${alice.keyId})`);
  });

  it('a signature made by another key claiming a trusted key id', () => {
    const forged = doc({ sig: signBytes(manifest, bobSigner).sig });
    expect(() => check(manifest, forged)).toThrowError(`the signature by key ${alice.keyId} does not match`);
  });

  it.each([
    ['not JSON', Buffer.from('sig'), 'is not valid JSON'],
    ['another schema', doc({ schema: 'herd/signature@2' }), 'schema'],
    ['another algorithm', doc({ alg: 'rsa' }), 'alg'],
    ['a bad key id', doc({ keyId: 'ALICE' }), 'keyId: must be 16 hex digits'],
    ['a sig that is not base64', doc({ sig: 'not base64!' }), 'sig: must be base64'],
    ['extra fields', doc({ role: 'web' } as never), 'role'],
    ['a short sig', doc({ sig: Buffer.alloc(63).toString('base64') }), 'does not match'],
    ['an empty object', Buffer.from('{}'), 'schema'],
  ])('a broken signature object: %s', (_what, bytes, reason) => {
    expect(() => check(manifest, bytes)).toThrowError(IntegrityError);
    expect(() => check(manifest, bytes)).toThrowError(reason);
    expect(() => check(manifest, bytes)).toThrowError('release web/v1');
  });
});
