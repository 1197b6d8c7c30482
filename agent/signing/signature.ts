// The detached signature of a release or a channel (ed25519 over the manifest's or the
// channel's exact bytes), as the objects roles/<role>/releases/<id>.json.sig and
// roles/<role>/channel.json.sig, and the file releases/<id>/manifest.json.sig:
//   {"schema": "herd/signature@1", "alg": "ed25519", "keyId": "<16 hex>", "sig": "<base64, 64 bytes>"}
// The signature covers the bytes as stored, so nothing is re-serialized before checking, and
// it needs no role or id of its own: the document it covers names them, and the store refuses
// a document whose role (or id) differs from its key. Pure.
import { sign, verify } from 'node:crypto';
import * as z from '../zod.ts';
import { IntegrityError } from '../errors.ts';
import { formatIssues } from '../validate.ts';
import type { SigningKey, TrustedKey } from './keys.ts';

export const SIGNATURE_SCHEMA = 'herd/signature@1';
const SIGNATURE_BYTES = 64;

export const signatureSchema = z.strictObject({
  schema: z.literal(SIGNATURE_SCHEMA),
  alg: z.literal('ed25519'),
  keyId: z.string().check(z.regex(/^[0-9a-f]{16}$/, 'must be 16 hex digits')),
  sig: z.string().check(z.regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64')),
});
export type SignatureDoc = z.infer<typeof signatureSchema>;

export function signBytes(bytes: Buffer, key: SigningKey): SignatureDoc {
  return { schema: SIGNATURE_SCHEMA, alg: 'ed25519', keyId: key.keyId, sig: sign(null, bytes, key.privateKey).toString('base64') };
}

/** The signature object's bytes as written to the store and the data directory. */
export function encodeSignature(doc: SignatureDoc): Buffer {
  return Buffer.from(`${JSON.stringify(doc, null, 2)}\n`);
}

export interface VerifyInput {
  /** The signed bytes, exactly as stored. */
  bytes: Buffer;
  /** The signature object's bytes, or null when there is none. */
  signature: Buffer | null;
  trusted: readonly TrustedKey[];
  /** What is checked, for messages: `release web/v2`. */
  what: string;
  /** Where the signature was looked for, for messages: an object key or a file. */
  where: string;
}

/** What checking a signature found: the trusted key that signed, or what is wrong, as data. */
export type SignatureCheck =
  | { ok: true; key: TrustedKey }
  | { ok: false; problem: 'unsigned' }
  /** Not JSON, or not a signature object; `detail` says why, naming `where`. */
  | { ok: false; problem: 'unreadable'; detail: string }
  | { ok: false; problem: 'unknown-key'; keyId: string }
  /** By a trusted key's id, but not a signature of these bytes by that key. */
  | { ok: false; problem: 'mismatch'; keyId: string };

/** Pure: whether `signature` is a signature of `bytes` by one of `trusted`; `where` names the signature in `detail`. */
export function checkSignature(input: { bytes: Buffer; signature: Buffer | null; trusted: readonly TrustedKey[]; where: string }): SignatureCheck {
  if (!input.signature) return { ok: false, problem: 'unsigned' };
  let doc: SignatureDoc;
  try {
    doc = readSignature(input.signature, input.where);
  } catch (err) {
    return { ok: false, problem: 'unreadable', detail: (err as Error).message };
  }
  const key = input.trusted.find((k) => k.keyId === doc.keyId);
  if (!key) return { ok: false, problem: 'unknown-key', keyId: doc.keyId };
  const sig = Buffer.from(doc.sig, 'base64');
  if (sig.length !== SIGNATURE_BYTES || !verify(null, input.bytes, key.key, sig)) return { ok: false, problem: 'mismatch', keyId: doc.keyId };
  return { ok: true, key };
}

/** The trusted key that signed `bytes`, or an IntegrityError saying why there is none. */
export function verifySignature(input: VerifyInput): TrustedKey {
  const { what, where } = input;
  const check = checkSignature({ bytes: input.bytes, signature: input.signature, trusted: input.trusted, where: `${what}: signature ${where}` });
  if (check.ok) return check.key;
  switch (check.problem) {
    case 'unsigned':
      throw new IntegrityError(`${what} is not signed (no ${where}); trustedKeys is set, so only signed releases run here`);
    case 'unreadable':
      throw new IntegrityError(check.detail);
    case 'unknown-key':
      throw new IntegrityError(`${what} is signed by key ${check.keyId}, which is not in trustedKeys (${keyIds(input.trusted)})`);
    case 'mismatch':
      throw new IntegrityError(`${what}: the signature by key ${check.keyId} does not match the manifest's bytes (changed after signing, or a bad signature)`);
  }
}

/** The ids of `keys`, for messages: "93c8888c7d4937c2, 55e1635f58a6c1cc". */
export function keyIds(keys: readonly TrustedKey[]): string {
  return keys.map((k) => k.keyId).join(', ');
}

/** Parses a signature object; anything else is an IntegrityError naming `where`. */
export function readSignature(bytes: Buffer, where: string): SignatureDoc {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new IntegrityError(`${where} is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  const result = signatureSchema.safeParse(json);
  if (!result.success) throw new IntegrityError(`${formatIssues(where, result.error)}`);
  return result.data;
}
