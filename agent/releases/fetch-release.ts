// Fetches a release from one source into the data directory: manifest, then code and
// config bundles, each verified while streaming and extracted into a staging directory
// that is renamed into releases/<id> only when everything checked out. With trustedKeys, the
// manifest's detached signature is checked first, before any staging exists, and is kept as
// releases/<id>/manifest.json.sig beside the verified bytes.
import { createReadStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { AgentConfig } from '../config.ts';
import { describeError, HerdError, IntegrityError, StoreError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { InstallInput } from '../bundle/install.ts';
import type { ExtractResult } from '../bundle/extract-sink.ts';
import { parseTrustedKeys, type TrustedKey } from '../signing/keys.ts';
import { verifySignature } from '../signing/signature.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { BlobRef } from '../store/schemas.ts';
import { writeFileAtomic } from './atomic.ts';
import { MANIFEST_FILE, type DataDir, type InstalledRelease } from './data-dir.ts';

export interface FetchReleaseInput {
  store: ObjectStore;
  dataDir: DataDir;
  role: string;
  releaseId: string;
  limits: AgentConfig['limits'];
  log: Logger;
  /** Called with the size of each bundle downloaded (not for cached ones), for metrics. */
  onBytes?: (n: number) => void;
  /**
   * The agent's trustedKeys, in any form parseTrustedKeys accepts. When non-empty, a release
   * runs only with a valid signature by one of them; when empty or absent, unsigned releases run.
   */
  trustedKeys: readonly string[];
  /** How a bundle is verified and extracted; default in this process (bundle/install.ts). */
  install?: InstallBundle;
}

export type InstallBundle = (input: InstallInput) => Promise<ExtractResult>;

/** bundle/install.ts, loaded when first used: an agent that installs in a child never loads tar. */
const installHere: InstallBundle = async (input) => (await import('../bundle/install.ts')).installBundle(input);

/** The signature object's bytes, kept beside manifest.json so the release can be checked again from disk. */
export const SIGNATURE_FILE = 'manifest.json.sig';

export interface FetchResult {
  release: InstalledRelease;
  /** false when the release was already on disk. */
  fetched: boolean;
  bytes: number;
}

export async function fetchRelease(input: FetchReleaseInput): Promise<FetchResult> {
  const { dataDir, releaseId } = input;
  const log = input.log.child({ module: 'fetch', release: releaseId });
  const trusted = parseTrustedKeys(input.trustedKeys);
  const existing = await dataDir.readRelease(releaseId);
  if (existing) {
    if (trusted.length > 0) await checkInstalledSignature({ ...input, release: existing, trusted, log });
    return { release: existing, fetched: false, bytes: 0 };
  }

  const { manifest, bytes: manifestBytes } = await input.store.getManifest(input.role, releaseId);
  // Nothing the manifest says (sizes, digests) is used before its signature checks out.
  const signature = trusted.length > 0 ? await verifyFromStore({ ...input, bytes: manifestBytes, trusted, log }) : null;
  for (const ref of [manifest.code, manifest.config]) {
    if (ref && ref.size > input.limits.maxBundleBytes) {
      throw new IntegrityError(`release ${releaseId}: bundle ${ref.digest} is ${ref.size} bytes, over limits.maxBundleBytes (${input.limits.maxBundleBytes})`);
    }
  }

  const staging = await dataDir.createStaging(releaseId);
  let received = 0;
  try {
    received += await installOne({ ...input, ref: manifest.code, label: 'code', dir: join(staging, 'code'), log });
    const configDir = join(staging, 'config');
    if (manifest.config) received += await installOne({ ...input, ref: manifest.config, label: 'config', dir: configDir, log });
    else await mkdir(configDir, { mode: 0o755 });
    await writeFileAtomic(join(staging, MANIFEST_FILE), manifestBytes);
    if (signature) await writeFileAtomic(join(staging, SIGNATURE_FILE), signature);
    await dataDir.commitStaging(staging, releaseId);
  } catch (err) {
    await dataDir.discardStaging(staging);
    throw err;
  }
  log.info({ bytes: received, source: input.store.name }, 'release fetched and verified');
  const release = await dataDir.readRelease(releaseId);
  if (!release) throw new IntegrityError(`release ${releaseId} vanished after install`);
  return { release, fetched: true, bytes: received };
}

type VerifyFromStoreInput = Pick<FetchReleaseInput, 'store' | 'role' | 'releaseId' | 'log'> & { bytes: Buffer; trusted: readonly TrustedKey[] };

/** The signature object of the manifest `bytes` read from the store, once it verifies; else an IntegrityError. */
async function verifyFromStore(input: VerifyFromStoreInput): Promise<Buffer> {
  const { store, role, releaseId } = input;
  const signature = await store.getSignature(role, releaseId);
  const by = verifySignature({
    bytes: input.bytes, signature, trusted: input.trusted,
    what: `release ${role}/${releaseId}`, where: `${store.name}/${store.layout.signature(role, releaseId)}`,
  });
  input.log.info({ keyId: by.keyId, source: store.name }, 'release signature verified');
  return signature as Buffer;
}

export interface CheckInstalledInput {
  store: ObjectStore;
  role: string;
  release: InstalledRelease;
  trusted: readonly TrustedKey[];
  log: Logger;
}

/**
 * A release already on disk, with keys configured: its saved signature must verify its saved
 * manifest. One fetched before trustedKeys were set, or baked by `herd pull`, has none; then the
 * store's signed manifest vouches for it only when its bytes are the same (the bundles on disk
 * were digest-checked against those bytes), and its signature is saved beside it.
 */
export async function checkInstalledSignature(input: CheckInstalledInput): Promise<void> {
  const { release, role } = input;
  const file = join(release.dir, SIGNATURE_FILE);
  const bytes = await readFile(join(release.dir, MANIFEST_FILE));
  const saved = await readFile(file).catch(() => null);
  try {
    verifySignature({ bytes, signature: saved, trusted: input.trusted, what: `release ${role}/${release.id}`, where: file });
    return;
  } catch (err) {
    if (!(err instanceof IntegrityError)) throw err;
    input.log.info({ err: err.message }, 'release on disk is not verified by its own signature; checking the store\'s');
  }
  const remote = await input.store.getManifest(role, release.id);
  const signature = await verifyFromStore({ ...input, releaseId: release.id, bytes: remote.bytes });
  if (!remote.bytes.equals(bytes)) {
    throw new IntegrityError(`release ${role}/${release.id} on disk differs from its signed manifest in the store; remove ${release.dir} to fetch it again`);
  }
  await writeFileAtomic(file, signature);
}

/**
 * One bundle: from the local blob cache when verified there before, else from the store.
 * A failure names the release, the bundle and where it came from: a bare "aborted" or
 * "path contains '..'" does not tell an operator what to fix.
 */
async function installOne(input: FetchReleaseInput & { ref: BlobRef; label: 'code' | 'config'; dir: string }): Promise<number> {
  const { dataDir, ref, limits } = input;
  await mkdir(input.dir, { mode: 0o755 });
  const blobFile = dataDir.blobFile(ref.digest);
  const cached = await dataDir.hasBlob(ref.digest);
  const from = cached ? `the blob cache ${blobFile}` : input.store.name;
  try {
    let body: Readable;
    if (cached) {
      body = createReadStream(blobFile, { highWaterMark: 1024 * 1024 });
    } else {
      body = (await input.store.getBlobStream(ref.digest)).body;
    }
    await (input.install ?? installHere)({
      body,
      expected: ref,
      maxBundleBytes: limits.maxBundleBytes,
      ...(cached ? {} : { blobFile }),
      dir: input.dir,
      limits: { maxUnpackedBytes: limits.maxUnpackedBytes, maxEntries: limits.maxEntries },
      log: input.log,
    });
  } catch (err) {
    const what = `release ${input.releaseId}: ${input.label} bundle ${ref.digest} (${ref.size} bytes) from ${from}`;
    // Refusals of the bytes stay integrity errors; anything else is the store or the network.
    const Kind = err instanceof IntegrityError ? IntegrityError : err instanceof HerdError && !(err instanceof StoreError) ? HerdError : StoreError;
    // The cause's text is in the message already; describeError would repeat it from `cause`.
    throw new Kind(`${what}: ${describeError(err)}`);
  }
  if (!cached) input.onBytes?.(ref.size);
  return cached ? 0 : ref.size;
}
