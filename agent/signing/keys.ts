// Ed25519 keys for signed releases, with node:crypto only. Pure: key files are read and
// written by the commands. A trusted key is written one of three ways, all accepted in the
// agent's trustedKeys: the one-line form `herd keygen` prints (base64 of the raw 32-byte
// public key), base64 of its SPKI DER encoding, or the PEM "PUBLIC KEY" of NAME.pub.
// A key's id is the first 16 hex digits of sha256 over the raw 32 bytes, whatever the form.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { ConfigError } from '../errors.ts';

export interface TrustedKey {
  keyId: string;
  key: KeyObject;
}

export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
  /** The public half in the one-line trustedKeys form. */
  trustedKey: string;
}

export interface GeneratedKeyPair {
  /** PKCS8 PEM: NAME.key. */
  privatePem: string;
  /** SPKI PEM: NAME.pub. */
  publicPem: string;
  trustedKey: string;
  keyId: string;
}

/** The fixed DER prefix of an ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows it. */
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const RAW_KEY_BYTES = 32;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function generateSigningKeyPair(): GeneratedKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = rawPublicKey(publicKey);
  return {
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    trustedKey: raw.toString('base64'),
    keyId: keyIdOf(raw),
  };
}

/** First 16 hex digits of sha256 over the raw public key: names a key in signatures and errors. */
export function keyIdOf(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

/** The 32 bytes of an ed25519 public key (or of the public half of a private key). */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new Error('not an ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

/** One trustedKeys entry in any accepted form, or a ConfigError saying what is wrong with it. */
export function parseTrustedKey(text: string): TrustedKey {
  const value = text.trim();
  if (value.includes('-----BEGIN')) return fromPem(value);
  if (!BASE64.test(value)) throw new ConfigError(`not a public key: ${FORMS}`);
  const der = Buffer.from(value, 'base64');
  if (der.toString('base64') !== value) throw new ConfigError(`not valid base64: ${FORMS}`);
  if (der.length === RAW_KEY_BYTES) return fromRaw(der);
  if (der.length === SPKI_ED25519_PREFIX.length + RAW_KEY_BYTES && der.subarray(0, SPKI_ED25519_PREFIX.length).equals(SPKI_ED25519_PREFIX)) {
    return fromRaw(der.subarray(SPKI_ED25519_PREFIX.length));
  }
  throw new ConfigError(`${der.length} bytes is not an ed25519 public key: ${FORMS}`);
}

/** Every trustedKeys entry, deduplicated by key id; a bad one is a ConfigError naming trustedKeys.N. */
export function parseTrustedKeys(entries: readonly string[]): TrustedKey[] {
  const byId = new Map<string, TrustedKey>();
  entries.forEach((entry, i) => {
    try {
      const key = parseTrustedKey(entry);
      byId.set(key.keyId, key);
    } catch (err) {
      throw new ConfigError(`trustedKeys.${i}: ${(err as Error).message}`, { cause: err });
    }
  });
  return [...byId.values()];
}

/** A PKCS8 PEM ed25519 private key (NAME.key from `herd keygen`); `where` names it in errors. */
export function parseSigningKey(pem: string, where: string): SigningKey {
  if (/-----BEGIN PUBLIC KEY-----/.test(pem)) throw new ConfigError(`${where}: is a public key; sign with the private key (the .key file herd keygen wrote)`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new ConfigError(`${where}: not a PEM private key (${(err as Error).message})`, { cause: err });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError(`${where}: is a ${privateKey.asymmetricKeyType ?? 'unknown'} key; herd signs with ed25519 (make one with herd keygen)`);
  }
  const raw = rawPublicKey(privateKey);
  return { keyId: keyIdOf(raw), privateKey, trustedKey: raw.toString('base64') };
}

const FORMS = 'give the line herd keygen prints (base64 of the 32-byte ed25519 key), base64 SPKI DER, or the PEM of the .pub file';

function fromRaw(raw: Buffer): TrustedKey {
  const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
  return { keyId: keyIdOf(raw), key };
}

function fromPem(pem: string): TrustedKey {
  if (/PRIVATE KEY-----/.test(pem)) throw new ConfigError('is a private key; trustedKeys take public keys (the .pub file or the line herd keygen prints)');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new ConfigError(`not a PEM public key (${(err as Error).message})`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new ConfigError(`is a ${key.asymmetricKeyType ?? 'unknown'} key, not ed25519`);
  return { keyId: keyIdOf(rawPublicKey(key)), key };
}
