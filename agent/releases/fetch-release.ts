// Fetches a release from one source into the data directory: manifest, then code and
// config bundles, each verified while streaming and extracted into a staging directory
// that is renamed into releases/<id> only when everything checked out.
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { AgentConfig } from '../config.ts';
import { IntegrityError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { installBundle } from '../bundle/install.ts';
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
}

export interface FetchResult {
  release: InstalledRelease;
  /** false when the release was already on disk. */
  fetched: boolean;
  bytes: number;
}

export async function fetchRelease(input: FetchReleaseInput): Promise<FetchResult> {
  const { dataDir, releaseId } = input;
  const log = input.log.child({ module: 'fetch', release: releaseId });
  const existing = await dataDir.readRelease(releaseId);
  if (existing) return { release: existing, fetched: false, bytes: 0 };

  const { manifest, bytes: manifestBytes } = await input.store.getManifest(input.role, releaseId);
  for (const ref of [manifest.code, manifest.config]) {
    if (ref && ref.size > input.limits.maxBundleBytes) {
      throw new IntegrityError(`release ${releaseId}: bundle ${ref.digest} is ${ref.size} bytes, over limits.maxBundleBytes (${input.limits.maxBundleBytes})`);
    }
  }

  const staging = await dataDir.createStaging(releaseId);
  let received = 0;
  try {
    received += await installOne({ ...input, ref: manifest.code, dir: join(staging, 'code'), log });
    const configDir = join(staging, 'config');
    if (manifest.config) received += await installOne({ ...input, ref: manifest.config, dir: configDir, log });
    else await mkdir(configDir, { mode: 0o755 });
    await writeFileAtomic(join(staging, MANIFEST_FILE), manifestBytes);
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

/** One bundle: from the local blob cache when verified there before, else from the store. */
async function installOne(input: FetchReleaseInput & { ref: BlobRef; dir: string }): Promise<number> {
  const { dataDir, ref, limits } = input;
  await mkdir(input.dir, { mode: 0o755 });
  const blobFile = dataDir.blobFile(ref.digest);
  const cached = await dataDir.hasBlob(ref.digest);
  let body: Readable;
  if (cached) {
    body = createReadStream(blobFile, { highWaterMark: 1024 * 1024 });
  } else {
    body = (await input.store.getBlobStream(ref.digest)).body;
  }
  await installBundle({
    body,
    expected: ref,
    maxBundleBytes: limits.maxBundleBytes,
    ...(cached ? {} : { blobFile }),
    dir: input.dir,
    limits: { maxUnpackedBytes: limits.maxUnpackedBytes, maxEntries: limits.maxEntries },
    log: input.log,
  });
  if (!cached) input.onBytes?.(ref.size);
  return cached ? 0 : ref.size;
}
