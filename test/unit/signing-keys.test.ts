// Keys for signed releases: every accepted way of writing a public key in trustedKeys names
// the same key, and anything else is refused with a reason (at config load: trustedKeys.N).
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../agent/config.ts';
import { ConfigError } from '../../agent/errors.ts';
import {
  generateSigningKeyPair, keyIdOf, parseSigningKey, parseTrustedKey, parseTrustedKeys,
} from '../../agent/signing/keys.ts';

const pair = generateSigningKeyPair();
const spkiDerBase64 = (pem: string) => pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const x25519 = generateKeyPairSync('x25519');

describe('generateSigningKeyPair', () => {
  it('gives PEM files and a one-line key: base64 of the 32 raw bytes, id = sha256 of them', () => {
    expect(pair.privatePem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(pair.publicPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const raw = Buffer.from(pair.trustedKey, 'base64');
    expect(raw).toHaveLength(32);
    expect(pair.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(keyIdOf(raw)).toBe(pair.keyId);
    expect(generateSigningKeyPair().keyId).not.toBe(pair.keyId);
  });
});

describe('parseTrustedKey', () => {
  it.each([
    ['the one-line form keygen prints', pair.trustedKey],
    ['the PEM of the .pub file', pair.publicPem],
    ['base64 SPKI DER', spkiDerBase64(pair.publicPem)],
    ['the line with blanks around it', `  ${pair.trustedKey}\n`],
  ])('accepts %s as the same key', (_what, text) => {
    expect(parseTrustedKey(text).keyId).toBe(pair.keyId);
  });

  it.each([
    ['a private key', pair.privatePem, 'is a private key'],
    ['an RSA public key', rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString(), 'is a rsa key, not ed25519'],
    ['an x25519 key as SPKI DER', x25519.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'), 'is not an ed25519 public key'],
    ['31 bytes', Buffer.alloc(31, 7).toString('base64'), '31 bytes is not an ed25519 public key'],
    ['words', 'my key', 'not a public key'],
    ['base64 without its padding', pair.trustedKey.replace(/=+$/, ''), 'not valid base64'],
    ['a broken PEM', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', 'not a PEM public key'],
  ])('refuses %s, saying why', (_what, text, reason) => {
    expect(() => parseTrustedKey(text)).toThrowError(ConfigError);
    expect(() => parseTrustedKey(text)).toThrowError(reason);
  });
});

describe('parseTrustedKeys', () => {
  it('keeps one key per id, whatever its form', () => {
    const other = generateSigningKeyPair();
    const keys = parseTrustedKeys([pair.trustedKey, pair.publicPem, other.trustedKey]);
    expect(keys.map((k) => k.keyId)).toEqual([pair.keyId, other.keyId]);
  });

  it('names the bad entry as trustedKeys.N', () => {
    expect(() => parseTrustedKeys([pair.trustedKey, 'no key'])).toThrowError(/^trustedKeys\.1: not a public key/);
  });
});

describe('trustedKeys in the agent config', () => {
  const base = { sources: [{ bucket: 'fleet-bucket' }] };

  it('accepts valid keys in any form and keeps them as written', () => {
    const config = buildConfig({ ...base, trustedKeys: [pair.trustedKey, pair.publicPem] }, 'agent.json');
    expect(config.trustedKeys).toEqual([pair.trustedKey, pair.publicPem]);
  });

  it('refuses an invalid key at load, naming trustedKeys.N (exit 2)', () => {
    const load = () => buildConfig({ ...base, trustedKeys: [pair.trustedKey, pair.privatePem] }, 'agent.json');
    expect(load).toThrowError(ConfigError);
    expect(load).toThrowError(/agent\.json: trustedKeys\.1: is a private key/);
  });
});

describe('parseSigningKey', () => {
  it('reads the .key file keygen wrote: same id and public line', () => {
    const key = parseSigningKey(pair.privatePem, 'k.key');
    expect(key.keyId).toBe(pair.keyId);
    expect(key.trustedKey).toBe(pair.trustedKey);
  });

  it.each([
    ['the .pub file', pair.publicPem, 'k: is a public key; sign with the private key'],
    ['an RSA private key', rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), 'k: is a rsa key; herd signs with ed25519'],
    ['text', 'hello', 'k: not a PEM private key'],
  ])('refuses %s', (_what, pem, reason) => {
    expect(() => parseSigningKey(pem, 'k')).toThrowError(ConfigError);
    expect(() => parseSigningKey(pem, 'k')).toThrowError(reason);
  });
});
