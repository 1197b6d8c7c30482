// herd publish: pack (or take a ready .tar.gz), upload blobs that are absent, write the
// manifest once. Never overwrites: the same id with other contents is refused.
// With --sign-key, the detached signature over the manifest's exact bytes is written first
// (conditionally, like the manifest), so a reader that sees the manifest always finds it.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ConfigError, ConflictError, IntegrityError, NotFoundError, UsageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { checkArchive, hashFile, packDirectory, readArchiveFile } from '../bundle/pack.ts';
import { parseTrustedKey, type SigningKey } from '../signing/keys.ts';
import { encodeSignature, readSignature, signBytes, verifySignature, type SignatureDoc } from '../signing/signature.ts';
import type { ObjectStore } from '../store/object-store.ts';
import {
  RELEASE_SCHEMA, releaseIdSchema, roleSchema, runSpecSchema,
  type BlobRef, type ReleaseManifest, type RunSpec,
} from '../store/schemas.ts';
import { parseFlag } from '../flags.ts';
import { parseJson, parseWith } from '../validate.ts';
import { formatBytes, type Output } from './output.ts';
import { readSigningKey } from './sign-key.ts';

export interface PublishInput {
  store: ObjectStore;
  role: string;
  code: string;
  config?: string;
  release?: string;
  /** A private key file from `herd keygen` (PKCS8 PEM): sign the manifest with it. */
  signKey?: string;
  out: Output;
  log: Logger;
  now?: Date;
}

export interface PublishResult {
  release: string;
  role: string;
  code: BlobRef;
  config: BlobRef | null;
  uploadedBytes: number;
  existed: boolean;
  /** Id of the key whose signature this publish wrote or checked; null when not signing. */
  signedBy: string | null;
}

const HERD_JSON = 'herd.json';

export async function publish(input: PublishInput): Promise<PublishResult> {
  const role = parseFlag('role', roleSchema, input.role);
  if (input.release !== undefined) parseFlag('release', releaseIdSchema, input.release);
  // A bad key fails here, before anything is packed or uploaded.
  const signer = input.signKey !== undefined ? await readSigningKey(input.signKey) : null;
  const work = await mkdtemp(join(tmpdir(), 'herd-publish-'));
  try {
    const code = await bundleFrom(input.code, join(work, 'code.tar.gz'), input.log, true, input.out);
    const config = input.config ? await bundleFrom(input.config, join(work, 'config.tar.gz'), input.log, false, input.out) : null;
    const run = code.run as RunSpec;
    const now = input.now ?? new Date();
    const id = input.release ?? generateReleaseId(now, code.ref.digest);
    const manifest: ReleaseManifest = {
      schema: RELEASE_SCHEMA, role, id, createdAt: now.toISOString(), code: code.ref, config: config?.ref ?? null, run,
    };

    const existing = await readExisting(input.store, role, id);
    if (existing) {
      if (!sameContents(existing.manifest, manifest)) {
        throw new ConflictError(`release ${id} of role ${role} exists with other contents; publish under a new --release id`);
      }
      const signedBy = signer ? await checkExistingSignature(input.store, role, id, existing.bytes, signer) : null;
      input.out.info(`release ${role}/${id} is already published with these contents${signedBy ? `, signed by key ${signedBy}` : ''}`);
      return { release: id, role, code: code.ref, config: config?.ref ?? null, uploadedBytes: 0, existed: true, signedBy };
    }
    if (await input.store.getSignature(role, id)) {
      throw new ConflictError(`release ${id} of role ${role} has a signature object but no manifest (a publish cut short?); publish under a new --release id, or delete ${input.store.layout.signature(role, id)}`);
    }

    let uploadedBytes = 0;
    for (const [label, bundle] of [['code', code], ['config', config]] as const) {
      if (!bundle) continue;
      uploadedBytes += await uploadIfAbsent(input.store, bundle.ref, bundle.file, label, input.out);
    }
    const bytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    if (signer) {
      // Signature first: once the manifest is visible, so is what vouches for it.
      await input.store.putSignature(role, id, encodeSignature(signBytes(bytes, signer)));
      input.out.info(`signed with key ${signer.keyId}`);
    }
    await input.store.putManifest(manifest, bytes);
    input.log.info({ role, release: id, code: code.ref.digest, uploadedBytes, signedBy: signer?.keyId ?? null }, 'published release');
    return { release: id, role, code: code.ref, config: config?.ref ?? null, uploadedBytes, existed: false, signedBy: signer?.keyId ?? null };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `20261122T125047Z-1a2b3c4d`: sortable by time, tied to the code it carries. */
export function generateReleaseId(now: Date, digest: string): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${digest.slice('sha256:'.length, 'sha256:'.length + 8)}`;
}

/** Same release = same bundles and run spec; createdAt does not count. */
export function sameContents(a: ReleaseManifest, b: ReleaseManifest): boolean {
  return a.role === b.role && a.id === b.id && isDeepStrictEqual(a.code, b.code)
    && isDeepStrictEqual(a.config, b.config) && isDeepStrictEqual(a.run, b.run);
}

interface Bundle { ref: BlobRef; file: string; run: RunSpec | null }

/** A directory is packed; a .tar.gz is taken as it is. Code must carry a valid herd.json. */
async function bundleFrom(path: string, packTo: string, log: Logger, isCode: boolean, out: Output): Promise<Bundle> {
  const what = isCode ? '--code' : '--config';
  const info = await stat(path).catch((err) => { throw new ConfigError(`${what} ${path}: no such file or directory`, { cause: err }); });
  if (info.isDirectory()) {
    const run = isCode ? await readRunSpec(await readFile(join(path, HERD_JSON)).catch(() => null), join(path, HERD_JSON)) : null;
    out.info(`packing ${isCode ? 'code' : 'config'} from ${path}`);
    const ref = await packDirectory({ dir: path, file: packTo, log });
    out.info(`  ${formatBytes(ref.size)} ${ref.digest}`);
    return { ref, file: packTo, run };
  }
  if (!/\.(tar\.gz|tgz)$/.test(path)) throw new ConfigError(`${what} ${path}: give a directory or a .tar.gz file`);
  // Refuse here what every agent would refuse (entries escaping, special files) instead of on each instance.
  out.info(`checking ${path}`);
  await checkArchive({ file: path });
  const run = isCode ? await readRunSpec(await readArchiveFile({ file: path, name: HERD_JSON, maxBytes: 1024 * 1024 }), `${path}:${HERD_JSON}`) : null;
  return { ref: await hashFile(path), file: path, run };
}

async function readRunSpec(bytes: Buffer | null, where: string): Promise<RunSpec> {
  if (!bytes) throw new ConfigError(`${where}: missing; the code needs a herd.json at its root saying how to run it`);
  const json = parseJson(bytes.toString('utf8'), where, (m, cause) => new ConfigError(m, { cause }));
  return parseWith(runSpecSchema, json, where, (m) => new ConfigError(m));
}

async function readExisting(store: ObjectStore, role: string, id: string): Promise<{ manifest: ReleaseManifest; bytes: Buffer } | null> {
  try {
    return await store.getManifest(role, id);
  } catch (err) {
    if (err instanceof NotFoundError) return null;
    throw err;
  }
}

/**
 * Re-publishing a release with a key: a no-op only when the stored signature is by this key and
 * verifies. A published release is never signed afterwards nor re-signed: what agents saw stays so.
 */
async function checkExistingSignature(store: ObjectStore, role: string, id: string, bytes: Buffer, signer: SigningKey): Promise<string> {
  const signature = await store.getSignature(role, id);
  if (!signature) {
    throw new ConflictError(`release ${id} of role ${role} is already published unsigned; a published release is never signed afterwards: publish under a new --release id`);
  }
  const where = store.layout.signature(role, id);
  let doc: SignatureDoc;
  try {
    doc = readSignature(signature, where);
    if (doc.keyId === signer.keyId) verifySignature({ bytes, signature, trusted: [parseTrustedKey(signer.trustedKey)], what: `release ${role}/${id}`, where });
  } catch (err) {
    if (!(err instanceof IntegrityError)) throw err;
    throw new ConflictError(`release ${id} of role ${role} is already published with a broken signature (${err.message}); publish under a new --release id`, { cause: err });
  }
  if (doc.keyId !== signer.keyId) {
    throw new ConflictError(`release ${id} of role ${role} is already published signed by key ${doc.keyId}, not by --sign-key's key ${signer.keyId}; publish under a new --release id`);
  }
  return signer.keyId;
}

async function uploadIfAbsent(store: ObjectStore, ref: BlobRef, file: string, label: string, out: Output): Promise<number> {
  const size = await store.headBlob(ref.digest);
  if (size !== null) {
    if (size !== ref.size) throw new ConflictError(`blob ${ref.digest} exists with another size (${size}, expected ${ref.size}); the store is inconsistent`);
    out.info(`${label}: ${formatBytes(ref.size)} already in the store`);
    return 0;
  }
  const progress = out.progress(`uploading ${label}`, ref.size);
  await store.putBlobFromFile({ digest: ref.digest, file, size: ref.size, onProgress: progress });
  progress(ref.size);
  return ref.size;
}
