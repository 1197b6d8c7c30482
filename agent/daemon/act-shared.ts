// The pieces every executor uses: make a release on disk ready to run (its signature checked
// again where keys are configured), drain, start behind the health gate, and record success
// (last-known-good, retention) or failure (state.json) the one way.
import { describeError, IntegrityError } from '../errors.ts';
import type { InstalledRelease } from '../releases/data-dir.ts';
import { checkInstalledSignature } from '../releases/fetch-release.ts';
import { pruneDataDir } from '../releases/prune.ts';
import { withFailure, withLastKnownGood, type LocalState } from '../releases/state.ts';
import { parseTrustedKeys } from '../signing/keys.ts';
import { FAILURE_SCHEMA, type FailureMarker } from '../store/schemas.ts';
import type { Context } from './context.ts';

/** The release from disk, ready to run: with trustedKeys, only once its signature checks out (any source may vouch). */
export async function prepare(ctx: Context, id: string): Promise<InstalledRelease> {
  const { parts } = ctx;
  const release = await parts.dataDir.readRelease(id);
  if (!release) throw new IntegrityError(`release ${id} is not in ${parts.dataDir.releasesDir}`);
  if (parts.config.trustedKeys.length > 0) {
    const trusted = parseTrustedKeys(parts.config.trustedKeys);
    try {
      await parts.sources.first('signature check', (store) => checkInstalledSignature({
        store, role: parts.identity.role, release, trusted, log: ctx.log,
      }), { release: id });
    } catch (err) {
      ctx.conditions.set('Applied', false, 'Unverified', `release ${id} on disk cannot be verified; not running it: ${describeError(err)}`);
      throw err;
    }
  }
  return release;
}

/** /healthz turns 503 and stays so for drainS, so the load balancer stops sending first. */
export async function drain(ctx: Context): Promise<void> {
  ctx.conditions.set('Draining', true, 'Draining');
  ctx.metrics.draining.set(1);
  ctx.log.info({ drainS: ctx.parts.config.drainS }, 'draining');
  await ctx.clock.sleep(ctx.parts.config.drainS * 1000, ctx.stopping);
}

/**
 * current → start → health gate. True once it runs healthy (recorded as last-known-good);
 * false when it failed (recorded in state.json against `generation`) or the agent is stopping.
 */
export async function startRelease(ctx: Context, id: string, generation: number | null, applied = true): Promise<boolean> {
  const { parts, conditions } = ctx;
  const release = await prepare(ctx, id);
  if (applied) conditions.set('Applied', false, 'Starting');
  await parts.dataDir.setCurrent(release.id);
  const gate = await parts.runner.start(release);
  if (ctx.stopping.aborted) return false;
  if (gate.healthy) {
    await applyHealthy(ctx, release, null);
    if (applied) conditions.set('Applied', true, 'Running');
    return true;
  }
  ctx.metrics.setRelease(null);
  await recordFailure(ctx, release.id, gate.reason, generation);
  ctx.log.error({ release: release.id, reason: gate.reason }, 'release failed its health gate; not retried until the channel changes');
  return false;
}

/** `release` runs healthy: it is the last-known-good now; old releases beyond keepReleases go. */
export async function applyHealthy(ctx: Context, release: InstalledRelease, previous: string | null): Promise<void> {
  const { parts, memory } = ctx;
  await saveState(ctx, withLastKnownGood(memory.local, release.id));
  ctx.metrics.setRelease(release.id);
  ctx.log.info({ release: release.id, pid: parts.runner.pid }, 'release running and healthy');
  await pruneDataDir({
    dataDir: parts.dataDir, keep: parts.config.keepReleases, log: ctx.log,
    // The app runs in the code directory it was started in, which config-only reloads keep.
    protect: [release.id, previous, memory.previous?.id ?? null, memory.local.lastKnownGood, parts.runner.startedFrom?.id ?? null],
  });
}

/**
 * `id` failed here: not tried again until the channel's generation changes. Against a channel
 * generation, the fleet is told too: a failure marker, which other agents count before they
 * apply the release (agent/rollout/halt.ts). A marker that cannot be written is logged.
 */
export async function recordFailure(ctx: Context, id: string, reason: string, generation: number | null): Promise<void> {
  await saveState(ctx, withFailure(ctx.memory.local, id, { reason, generation }));
  ctx.conditions.set('Applied', false, 'Failed', `release ${id} failed: ${reason}`);
  if (generation === null) return;
  const { identity, sources } = ctx.parts;
  const marker: FailureMarker = {
    schema: FAILURE_SCHEMA, instanceId: identity.instanceId, release: id, generation, reason: reason.slice(0, 2048), at: new Date(ctx.clock.now()).toISOString(),
  };
  await sources.write('failure marker', (store) => store.putFailureMarker(identity.role, marker)).then(
    () => ctx.log.warn({ release: id, generation }, 'failure marker written: other instances count it before they apply this release'),
    (err: unknown) => ctx.log.error({ release: id, err: describeError(err) }, 'cannot write the failure marker'),
  );
}

async function saveState(ctx: Context, state: LocalState): Promise<void> {
  ctx.memory.local = state;
  await ctx.parts.dataDir.writeState(state).catch((err: unknown) => {
    ctx.log.error({ err: describeError(err) }, 'cannot write state.json');
  });
}
