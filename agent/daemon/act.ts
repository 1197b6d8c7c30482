// One thin executor per step. Each does its step's I/O, records what happened in the
// conditions and local state, and says how the loop goes on: 'progress' (look again now),
// 'settled' (look again at the next poll) or 'failed' (look again after a backoff). What to
// do next is never decided here: a switch that fails records the failure, and the next pass
// decides to go back.
import { describeError, HerdError } from '../errors.ts';
import { fetchRelease } from '../releases/fetch-release.ts';
import { describeHalt, haltOf } from '../rollout/halt.ts';
import type { FailureMarker } from '../store/schemas.ts';
import type { Step } from './decide.ts';
import type { Context } from './context.ts';
import { goBack, runLastKnownGood } from './act-recover.ts';
import { applyHealthy, drain, prepare, recordFailure, startRelease } from './act-shared.ts';

export type Outcome = 'progress' | 'settled' | 'failed';

export async function act(ctx: Context, step: Step): Promise<Outcome> {
  if ('check' in step && step.check && await rolloutHalted(ctx, step.check.release, step.check.generation)) return 'progress';
  switch (step.kind) {
    case 'none':
    case 'wait':
      return 'settled';
    case 'fetch':
      return fetch(ctx, step.desired);
    case 'start':
      ctx.log.info({ release: step.desired, running: null, generation: step.generation }, 'applying release');
      await startRelease(ctx, step.desired, step.generation);
      return 'progress';
    case 'switch':
      return switchRelease(ctx, step);
    case 'reload':
      return reload(ctx, step);
    case 'go-back':
      return goBack(ctx, step);
    case 'run-last-known-good':
      return runLastKnownGood(ctx, step.release);
    case 'drain-for-termination':
      return drainForTermination(ctx, step.reason);
    case 'complete-launch-hook':
      return completeLaunchHook(ctx, step.result, step.reason);
  }
}

/**
 * Before a step toward the channel's release: counts its failure markers (one listing per
 * release and generation). Once rollout.maxFailures instances have failed it, the rollout is
 * halted: true, and the step is not taken (the next pass keeps what runs). Markers that
 * cannot be read do not stop a rollout: the check passes, and says so.
 */
async function rolloutHalted(ctx: Context, release: string, generation: number): Promise<boolean> {
  const { parts, memory, conditions } = ctx;
  const channel = memory.channel?.kind === 'found' ? memory.channel.channel : null;
  if (!channel || channel.release !== release || channel.generation !== generation) return false;
  let markers: FailureMarker[] = [];
  try {
    markers = await parts.sources.failureMarkers(parts.identity.role, release);
  } catch (err) {
    ctx.log.warn({ release, err: describeError(err) }, 'cannot read failure markers; applying the release without that check');
  }
  const halt = haltOf(channel, markers);
  const reason = halt.halted ? describeHalt(channel, halt) : null;
  memory.failureCheck = { release, generation, halted: halt.halted, reason };
  if (reason) {
    conditions.set('Applied', false, 'Halted', reason);
    ctx.log.error({ release, generation, failures: halt.failures.map((f) => f.instanceId) }, 'rollout halted: keeping what runs');
  }
  return halt.halted;
}

/** Download and verify while the old app serves; tries each source in order. */
async function fetch(ctx: Context, id: string): Promise<Outcome> {
  const { parts, conditions, metrics, memory } = ctx;
  conditions.set('Fetched', false, 'Fetching');
  if (parts.runner.release?.id !== id) conditions.set('Applied', false, 'Pending');
  try {
    await parts.sources.first('fetch', async (store) => {
      try {
        const result = await fetchRelease({
          store, dataDir: parts.dataDir, role: parts.identity.role, releaseId: id, limits: parts.config.limits, log: ctx.log,
          trustedKeys: parts.config.trustedKeys, onBytes: (n) => metrics.fetchBytes.inc(n),
          ...(ctx.install ? { install: ctx.install } : {}),
        });
        metrics.fetches.inc({ result: result.fetched ? 'fetched' : 'cached' });
      } catch (err) {
        metrics.fetches.inc({ result: 'error' });
        throw err;
      }
    }, { release: id });
  } catch (err) {
    // Named as what failed: a refused or unreachable release is not a channel problem.
    const error = new HerdError(`cannot fetch release ${id}`, { cause: err });
    ctx.log.error({ release: id, err: describeError(err) }, 'cannot fetch release; the running app keeps serving');
    conditions.set('Fetched', false, 'FetchFailed', describeError(error));
    memory.fetchFailed = id;
    return 'failed';
  }
  memory.fetchFailed = null;
  conditions.set('Fetched', true, 'Fetched');
  return 'progress';
}

/** Code change: drain, stop the old app, switch `current`, start the new one. */
async function switchRelease(ctx: Context, step: Extract<Step, { kind: 'switch' }>): Promise<Outcome> {
  const { parts, memory } = ctx;
  ctx.log.info({ release: step.desired, running: step.from, generation: step.generation }, 'applying release');
  await prepare(ctx, step.desired);
  memory.previous = { id: step.from, sinceMs: ctx.clock.now() };
  await drain(ctx);
  if (ctx.stopping.aborted) return 'settled';
  await parts.runner.stop();
  ctx.conditions.set('Draining', false, 'Serving');
  ctx.metrics.draining.set(0);
  if (await startRelease(ctx, step.desired, step.generation)) memory.previous = { id: step.from, sinceMs: ctx.clock.now() };
  return 'progress';
}

/** Config-only change: the new config goes in place atomically (the `current` swap) and the app is signalled. */
async function reload(ctx: Context, step: Extract<Step, { kind: 'reload' }>): Promise<Outcome> {
  const { parts, memory } = ctx;
  ctx.log.info({ release: step.desired, running: step.from, generation: step.generation }, 'applying release');
  const target = await prepare(ctx, step.desired);
  memory.previous = { id: step.from, sinceMs: ctx.clock.now() };
  await parts.dataDir.setCurrent(target.id);
  if (!parts.runner.reload(target, step.signal)) {
    ctx.log.warn({ release: target.id }, 'app not running; restarting instead of reloading');
    return switchRelease(ctx, { kind: 'switch', desired: step.desired, from: step.from, generation: step.generation });
  }
  await ctx.clock.sleep(500, ctx.stopping);
  if (await parts.runner.probe()) {
    await applyHealthy(ctx, target, step.from);
    ctx.conditions.set('Applied', true, 'Running');
    return 'progress';
  }
  await recordFailure(ctx, target.id, `app not healthy after reloading to release ${target.id}`, step.generation);
  return 'progress';
}

/** The instance is going: drain so the load balancer stops sending, then stop the app gracefully. The agent stays up. */
async function drainForTermination(ctx: Context, reason: string): Promise<Outcome> {
  if (!ctx.conditions.is('Terminating', 'AppStopped')) {
    ctx.log.warn({ reason }, 'instance terminating: draining and stopping the app');
    ctx.conditions.set('Terminating', true, 'Draining', reason);
    await drain(ctx);
    await ctx.parts.runner.stop();
    ctx.conditions.set('Draining', false, 'Serving');
    ctx.conditions.set('Terminating', true, 'AppStopped', reason);
  }
  const hooks = ctx.parts.autoScaling;
  if (ctx.memory.termination?.kind === 'lifecycle' && hooks?.terminateHook) {
    // The app is down: the group may go on and terminate the instance.
    try {
      await hooks.complete(hooks.terminateHook, 'CONTINUE');
    } catch (err) {
      ctx.log.error({ err: describeError(err) }, 'cannot complete the terminate hook; trying again');
      return 'failed';
    }
  }
  if (ctx.memory.termination) ctx.memory.termination.done = true;
  return 'settled';
}

/** The first release serves (CONTINUE), or none can (ABANDON): the Auto Scaling group may go on. */
async function completeLaunchHook(ctx: Context, result: 'CONTINUE' | 'ABANDON', reason: string): Promise<Outcome> {
  const hooks = ctx.parts.autoScaling;
  if (!hooks?.launchHook) {
    ctx.memory.launchHook = null;
    return 'progress';
  }
  ctx.log[result === 'CONTINUE' ? 'info' : 'error']({ hook: hooks.launchHook, result, reason }, 'completing the launch hook');
  try {
    await hooks.complete(hooks.launchHook, result);
  } catch (err) {
    ctx.log.error({ err: describeError(err) }, 'cannot complete the launch hook; trying again');
    return 'failed';
  }
  ctx.memory.launchHook = 'done';
  return 'progress';
}
