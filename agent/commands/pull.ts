// herd pull: fetch, verify and extract a release into a data directory without running
// it: bakes a release into an image so the first boot needs no S3.
import { UsageError } from '../errors.ts';
import type { AgentConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { DataDir } from '../releases/data-dir.ts';
import { fetchRelease } from '../releases/fetch-release.ts';
import { withLastKnownGood } from '../releases/state.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { releaseIdSchema, roleSchema } from '../store/schemas.ts';
import { parseFlag } from '../flags.ts';

export interface PullInput {
  store: ObjectStore;
  role: string;
  release?: string;
  dataDir: string;
  limits: AgentConfig['limits'];
  log: Logger;
}

export interface PullResult {
  release: string;
  dir: string;
  fetched: boolean;
  bytes: number;
  seconds: number;
}

export async function pull(input: PullInput): Promise<PullResult> {
  const started = performance.now();
  const role = parseFlag('role', roleSchema, input.role);
  let releaseId = input.release;
  if (releaseId === undefined) {
    const read = await input.store.getChannel(role);
    if (read.kind !== 'found') throw new UsageError(`role ${role} has no channel yet; give --release ID or run herd roll first`);
    releaseId = read.channel.release;
  }
  parseFlag('release', releaseIdSchema, releaseId);
  const dataDir = new DataDir({ root: input.dataDir, log: input.log });
  await dataDir.init();
  const { release, fetched, bytes } = await fetchRelease({
    store: input.store, dataDir, role, releaseId, limits: input.limits, log: input.log,
    // Baking takes what the store has; agents with trustedKeys check it again at boot.
    trustedKeys: [],
  });
  // A baked release is what the instance boots into when every source is down.
  await dataDir.setCurrent(release.id);
  const state = await dataDir.readState();
  if (!state.lastKnownGood) await dataDir.writeState(withLastKnownGood(state, release.id));
  return { release: release.id, dir: release.dir, fetched, bytes, seconds: (performance.now() - started) / 1000 };
}
