// Retention: keep `keep` releases on disk (newest first), never the current or last-known-good
// one, and only the blobs the kept releases use. Disks filled with old revisions are a known
// way agents make outages worse.
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { hexOf } from '../store/layout.ts';
import type { DataDir } from './data-dir.ts';

/** Pure: which release ids to delete. `releases` in any order, with when each was installed. */
export function planPrune(input: { releases: Array<{ id: string; installedAtMs: number }>; keep: number; protect: Array<string | null> }): string[] {
  const protect = new Set(input.protect.filter((p): p is string => p !== null));
  const newestFirst = [...input.releases].sort((a, b) => b.installedAtMs - a.installedAtMs || byCodePoint(a.id, b.id));
  const kept = new Set(newestFirst.filter((r) => protect.has(r.id)).map((r) => r.id));
  for (const r of newestFirst) {
    if (kept.size >= Math.max(input.keep, protect.size)) break;
    kept.add(r.id);
  }
  return newestFirst.filter((r) => !kept.has(r.id)).map((r) => r.id);
}

/**
 * Release ids are ASCII: compared by code point. (localeCompare would load ICU's collation
 * data into every agent, about 3 MB of resident memory, for this one sort.)
 */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Deletes old releases and unreferenced blobs; returns what it removed. Failures are logged, not thrown. */
export async function pruneDataDir(input: { dataDir: DataDir; keep: number; protect: Array<string | null>; log: Logger }): Promise<{ releases: string[]; blobs: string[] }> {
  const { dataDir } = input;
  const log = input.log.child({ module: 'prune' });
  const releases = await Promise.all((await dataDir.listReleases()).map(async (id) => ({
    id, installedAtMs: (await stat(dataDir.releaseDir(id)).catch(() => null))?.mtimeMs ?? 0,
  })));
  const doomed = planPrune({ releases, keep: input.keep, protect: input.protect });
  for (const id of doomed) {
    await rm(dataDir.releaseDir(id), { recursive: true, force: true }).catch((err) => log.warn({ release: id, err: String(err) }, 'cannot remove old release'));
  }
  const used = new Set<string>();
  for (const { id } of releases) {
    if (doomed.includes(id)) continue;
    const release = await dataDir.readRelease(id).catch(() => null);
    if (!release) continue;
    used.add(hexOf(release.manifest.code.digest));
    if (release.manifest.config) used.add(hexOf(release.manifest.config.digest));
  }
  const blobs = (await readdir(dataDir.blobsDir)).filter((name) => /^[0-9a-f]{64}$/.test(name) && !used.has(name));
  for (const name of blobs) await rm(join(dataDir.blobsDir, name), { force: true }).catch(() => {});
  if (doomed.length || blobs.length) log.info({ releases: doomed, blobs: blobs.length }, 'pruned old releases');
  return { releases: doomed, blobs };
}
