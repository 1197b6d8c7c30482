// The two ways back to a release that ran here before: go back from a release that failed
// (its gate, its reload, or a crash loop while young), and start the last-known-good one
// when nothing else can run (every source down at boot, the wanted release unreachable).
import { describeError } from '../errors.ts';
import { planApply } from '../rollout/plan.ts';
import type { Context } from './context.ts';
import type { Step } from './decide.ts';
import type { Outcome } from './act.ts';
import { applyHealthy, prepare, recordFailure, startRelease } from './act-shared.ts';

/** The one go-back path: record `from` as failed (if not yet), then run `to` again by reload or restart. */
export async function goBack(ctx: Context, step: Extract<Step, { kind: 'go-back' }>): Promise<Outcome> {
  const { parts, memory, conditions } = ctx;
  const runner = parts.runner;
  const recorded = memory.local.failed[step.from];
  const crashLoop = !(recorded && recorded.generation === step.generation);
  const reason = crashLoop ? `crash loop (${runner.lastError ?? 'exited repeatedly'})` : recorded.reason;
  if (crashLoop) await recordFailure(ctx, step.from, reason, step.generation);
  ctx.log.warn({ from: step.from, to: step.to, reason },
    crashLoop ? 'release crash-loops; going back to the release that ran before' : 'going back to the release that ran before');
  const to = await prepare(ctx, step.to);
  const plan = planApply(runner.release?.manifest ?? null, to.manifest);
  let healthy: boolean;
  let why = '';
  if (plan.kind === 'reload') {
    await parts.dataDir.setCurrent(to.id);
    runner.reload(to, plan.signal);
    await ctx.clock.sleep(500, ctx.stopping);
    healthy = await runner.probe();
    why = 'not healthy after its reload';
    if (healthy) await applyHealthy(ctx, to, null);
  } else {
    if (runner.release) await runner.stop();
    healthy = await startRelease(ctx, to.id, null, false);
    why = runner.lastError ?? 'health gate';
  }
  if (ctx.stopping.aborted) return 'settled';
  if (!healthy) {
    conditions.set('Applied', false, 'Failed', `release ${step.from} failed (${reason}); going back to ${to.id} failed too: ${why}`);
    return 'failed';
  }
  memory.previous = null;
  conditions.set('Applied', false, 'WentBack', `release ${step.from} failed (${reason}); back on ${to.id}`);
  return 'progress';
}

/** Nothing runs and the wanted release cannot be had: run the last release that was healthy here. */
export async function runLastKnownGood(ctx: Context, id: string): Promise<Outcome> {
  try {
    await prepare(ctx, id);
  } catch (err) {
    ctx.log.error({ release: id, err: describeError(err) }, 'last-known-good release cannot be verified; not starting it');
    return 'failed';
  }
  ctx.log.warn({ release: id }, 'starting the last-known-good release from the data directory');
  return (await startRelease(ctx, id, null, false)) ? 'progress' : 'failed';
}
