// Gathers what is, for one pass of the loop: the channel (read from the sources on a poll,
// else as last read), what the runner runs, the releases on disk that could matter, local
// state, a termination notice, and the time. Reading the channel (observe-channel.ts) sets
// the ChannelRead and ChannelTrusted conditions and keeps the record of the newest signed
// channel trusted; nothing else here changes anything.
import { stat } from 'node:fs/promises';
import type { DataDir } from '../releases/data-dir.ts';
import type { ReleaseManifest } from '../store/schemas.ts';
import type { Context } from './context.ts';
import type { Observed } from './decide.ts';
import { readChannel } from './observe-channel.ts';

export async function observe(ctx: Context, poll: boolean): Promise<Observed> {
  const { memory, parts } = ctx;
  if (poll || !memory.channel) memory.channel = await readChannel(ctx);
  const channel = memory.channel;
  const release = parts.runner.release;
  const candidates = [
    channel.kind === 'found' ? channel.channel.release : null,
    channel.kind === 'found' ? channel.channel.previous : null,
    memory.local.lastKnownGood,
    memory.previous?.id ?? null,
  ];
  const installed = await installedAmong(parts.dataDir, candidates);
  return {
    nowMs: ctx.clock.now(),
    instanceId: parts.identity.instanceId,
    channel,
    running: release ? { id: release.id, manifest: release.manifest, state: parts.runner.state, healthy: parts.runner.healthy } : null,
    installed,
    local: memory.local,
    previous: memory.previous,
    fetchFailed: memory.fetchFailed,
    termination: memory.termination,
    launchHookPending: memory.launchHook === 'pending',
    failureCheck: memory.failureCheck,
  };
}

/**
 * Release manifests are immutable and a release directory appears or goes only by a rename or
 * removal in releases/, which changes that directory's mtime: while it stands still, an idle
 * poll reuses what it read (one stat, not a read and parse per candidate).
 */
const seen = new WeakMap<DataDir, { stamp: number; manifests: Map<string, ReleaseManifest | null> }>();

async function installedAmong(dataDir: DataDir, candidates: Array<string | null>): Promise<Map<string, ReleaseManifest>> {
  const stamp = (await stat(dataDir.releasesDir).catch(() => null))?.mtimeMs ?? -1;
  let cache = seen.get(dataDir);
  if (cache?.stamp !== stamp) seen.set(dataDir, cache = { stamp, manifests: new Map() });
  const installed = new Map<string, ReleaseManifest>();
  for (const id of new Set(candidates)) {
    if (!id) continue;
    if (!cache.manifests.has(id)) cache.manifests.set(id, (await dataDir.readRelease(id).catch(() => null))?.manifest ?? null);
    const manifest = cache.manifests.get(id);
    if (manifest) installed.set(id, manifest);
  }
  return installed;
}
