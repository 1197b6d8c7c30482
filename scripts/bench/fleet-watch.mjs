// Watches a fleet converge on a release: every agent's /status every `tickMs`, all at once,
// so a tick is a snapshot of the fleet. Records per agent when it first turned unhealthy and
// when it first ran the target healthy, and the most instances unhealthy in one snapshot.
import { readStatus } from './fleet-agents.mjs';

/**
 * Starts watching before the roll, so nothing is missed. `done(timeoutMs)` resolves when every
 * agent runs `target` healthy or has recorded it as failed, or when the time is up; it stops
 * the ticks and returns { agents: [{ id, unhealthyAt, onTargetAt, failed, last }], peakUnhealthy,
 * ticks } with times from performance.now().
 */
export function watchConvergence(agents, target, tickMs = 100) {
  const seen = agents.map((a) => ({ id: a.id, unhealthyAt: null, onTargetAt: null, failed: null, last: null }));
  let peakUnhealthy = 0;
  let ticks = 0;
  let stopped = false;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });

  const settled = (s) => s.onTargetAt !== null || s.failed !== null;
  const tick = async () => {
    const started = performance.now();
    const statuses = await Promise.all(agents.map(async (agent, i) => {
      const status = await readStatus(agent, 1_000);
      const at = performance.now();
      const s = seen[i];
      if (status) s.last = status;
      if (s.onTargetAt === null && status?.healthy === false && s.unhealthyAt === null) s.unhealthyAt = at;
      if (s.onTargetAt === null && status?.healthy === true && status.release === target) s.onTargetAt = at;
      if (s.onTargetAt === null && s.failed === null && status?.failedReleases?.includes(target)) s.failed = status.lastError ?? `${target} failed`;
      return status;
    }));
    ticks += 1;
    peakUnhealthy = Math.max(peakUnhealthy, statuses.filter((s) => !s || s.healthy !== true).length);
    if (stopped || seen.every(settled)) {
      finish();
      return;
    }
    setTimeout(tick, Math.max(0, tickMs - (performance.now() - started)));
  };
  void tick();

  return {
    async done(timeoutMs) {
      const timer = setTimeout(() => { stopped = true; }, timeoutMs);
      await finished;
      clearTimeout(timer);
      stopped = true;
      return { agents: seen, peakUnhealthy, ticks };
    },
  };
}
