// A fleet of agents over simulated time, for npm run bench:scale. Each simulated agent runs the
// agent's own timing and decisions: beginPass/afterPass (the loop), pollDelayMs and
// retryDelayMs (jitter, backoff), decideStep (what to do next, which runs decideRelease:
// slots, waves and a halted rollout), haltOf (the failure-marker count), passOutcome (how a
// pass ends, a wave's spread included), Conditions (what counts as a change) and
// nextReportAt (report debounce and heartbeat). Only the I/O is
// modelled: a store request is counted (scale-ledger.ts) and answered at once, and a fetch, a
// drain, a stop and a start take the time given in `timings`. Deterministic for a seed.
import { Conditions } from '../../agent/daemon/conditions.ts';
import { decideStep, type ChannelView, type FailureCheck, type Step } from '../../agent/daemon/decide.ts';
import { afterPass, beginPass, type LoopSchedule } from '../../agent/daemon/loop.ts';
import { passOutcome } from '../../agent/daemon/outcome.ts';
import { nextReportAt, type ReportTimes } from '../../agent/daemon/reporter.ts';
import { slotOf } from '../../agent/rollout/decide.ts';
import { haltOf } from '../../agent/rollout/halt.ts';
import { pollDelayMs, retryDelayMs } from '../../agent/rollout/plan.ts';
import { layoutFor } from '../../agent/store/layout.ts';
import type { ReleaseManifest } from '../../agent/store/schemas.ts';
import type { SimInput, SimResult, SourceSpec } from './scale-types.ts';
import { EventQueue, mulberry32 } from './scale-events.ts';
import { RequestLedger, type Counted, type Method } from './scale-ledger.ts';
import { channelAt, channelVersion, makeChannel, makeRelease, ROLE } from './scale-world.ts';

export type { IdleCount, SimInput, SimResult, SourceSpec } from './scale-types.ts';

const SESSION_MS = 5 * 60_000;
/** A CreateSession credential is renewed when less than this is left (assumed, as the AWS SDKs do ahead of expiry). */
const SESSION_RENEW_MS = 60_000;
const CHANNEL_BYTES = 420;
const REPORT_BYTES = 430;
const MANIFEST_BYTES = 700;


interface Agent {
  index: number;
  id: string;
  slot: number;
  /** False while the idle state is set up: those changes were reported long ago. */
  live: boolean;
  conditions: Conditions;
  loop: LoopSchedule;
  report: ReportTimes;
  reportToken: number;
  running: { id: string; manifest: ReleaseManifest } | null;
  runnerState: 'running' | 'stopping' | 'starting' | 'idle';
  healthy: boolean;
  installed: Map<string, ReleaseManifest>;
  blobs: Set<string>;
  local: { failed: Record<string, { reason: string; at: string; generation: number | null }>; lastKnownGood: string | null };
  previous: { id: string; sinceMs: number } | null;
  channel: ChannelView | null;
  /** The channel generation each source last gave (its ETag cache). */
  seen: Array<number | null>;
  sessionUntil: number[];
  desired: string | null;
  fetchFailed: string | null;
  failureCheck: FailureCheck | null;
  next: (() => void) | null;
  /** The step of the pass under way, and the agent's backoff (retryDelayMs with its own serving state). */
  step: Step | null;
  backoffMs: (failures: number) => number;
  appliedAt: number | null;
  drained: boolean;
}

export function simulate(input: SimInput): SimResult {
  const { settings, timings, sources } = input;
  const rng = mulberry32(input.seed);
  const between = ([lo, hi]: readonly [number, number]) => lo + (hi - lo) * rng();
  const layout = layoutFor('herd');
  const pollMs = settings.pollIntervalS * 1000;
  const heartbeatMs = settings.reportHeartbeatS * 1000;
  const startMs = Date.parse('2026-01-05T00:00:00Z');
  const rollAtMs = input.roll ? startMs + input.idleMs : null;
  // Long enough for the last wave, a poll and its jitter, a drain and a minute more; a run ends sooner once every agent applied the roll.
  const afterRoll = input.afterRollMs ?? (input.roll ? input.roll.waves * input.roll.waveIntervalS * 1000 + 1.5 * pollMs + settings.drainS * 1000 + 60_000 : 0);
  const endMs = startMs + input.idleMs + (input.roll ? afterRoll : 0);

  const v1 = makeRelease('v1', 'a', input.codeBytes);
  const v2 = makeRelease('v2', 'b', input.codeBytes);
  const releases = new Map([[v1.id, v1], [v2.id, v2]]);
  const first = makeChannel({ release: 'v1', previous: null, generation: 1, at: startMs - 86_400_000 });
  const versions = sources.map(() => [channelVersion(first, -Infinity)]);

  const ledger = new RequestLedger({ sources, agents: input.instances, startMs, idleMs: input.idleMs, rollAtMs });
  const queue = new EventQueue();
  let now = startMs;
  let passes = 0;
  let appliedCount = 0;

  const isDown = (si: number) => (sources[si]?.down ?? []).some(([from, to]) => now >= startMs + from && now < startMs + to);
  const firstUp = (writable: boolean) => sources.findIndex((s, si) => (!writable || s.writable) && !isDown(si));

  /** Counts one request; one to a directory bucket first renews the agent's CreateSession credential when it is about to expire. */
  function count(agent: Agent, si: number, method: Method, where: Counted | 'report', what: string, bytes: number): void {
    if ((sources[si] as SourceSpec).type === 'express' && now >= (agent.sessionUntil[si] ?? 0) - SESSION_RENEW_MS) {
      agent.sessionUntil[si] = now + SESSION_MS;
      ledger.count(agent.index, si, 'SESSION', ledger.scopes(si, 'SESSION', ''), 'CreateSession', 0, now);
    }
    ledger.count(agent.index, si, method, where, what, bytes, now);
  }

  // --- the report (the agent's nextReportAt, its writes modelled as instant) ---
  function armReport(agent: Agent): void {
    const at = nextReportAt(agent.report, heartbeatMs);
    agent.reportToken += 1;
    if (at !== null) queue.push(at, agent.index, REPORT, agent.reportToken);
  }
  function reportChanged(agent: Agent): void {
    if (!agent.live || agent.report.pendingSince !== null) return;
    agent.report = { ...agent.report, pendingSince: now };
    armReport(agent);
  }
  function writeReport(agent: Agent): void {
    agent.report = { pendingSince: null, lastWriteAt: now };
    const si = firstUp(true);
    if (si >= 0) count(agent, si, 'PUT', 'report', 'report', REPORT_BYTES);
    armReport(agent);
  }

  // --- one pass: observe, decide (the agent's decideStep), act (modelled), as Agent.pass does ---
  const pollDelay = () => pollDelayMs(settings.pollIntervalS, rng);
  /** The conditions' clock is only for their `since`, which nothing here reads; formatting a date per change would cost more than the decisions. */
  const clock = () => UNREAD_DATE;
  function pass(agent: Agent): void {
    passes += 1;
    const begun = beginPass(agent.loop, now, pollDelay);
    keep(agent.loop, begun.schedule);
    if (begun.poll || !agent.channel) agent.channel = readChannel(agent);
    const step = decideStep({
      nowMs: now, instanceId: agent.id, channel: agent.channel,
      running: agent.running ? { id: agent.running.id, manifest: agent.running.manifest, state: agent.runnerState, healthy: agent.healthy } : null,
      installed: agent.installed, local: agent.local, previous: agent.previous, fetchFailed: agent.fetchFailed,
      termination: null, launchHookPending: false, failureCheck: agent.failureCheck,
    });
    if (step.desired !== null && step.desired !== agent.desired) {
      agent.desired = step.desired;
      reportChanged(agent);
    }
    agent.step = step;
    act(agent, step);
  }

  /**
   * The loop's new schedule, copied into the agent's own: a fleet's worth of objects that live
   * from one pass to the next would all reach the old generation and make the collector the
   * simulation's slowest part.
   */
  function keep(into: LoopSchedule, from: LoopSchedule): void {
    into.nextPollAt = from.nextPollAt;
    into.failures = from.failures;
    into.progressInARow = from.progressInARow;
  }

  /** The pass's outcome as Agent.pass maps it (passOutcome), then the loop's afterPass: when the next pass runs. */
  function endPass(agent: Agent, acted: 'progress' | 'settled' | 'failed'): void {
    const o = passOutcome({ step: agent.step as Step, acted, channel: agent.channel?.kind ?? 'unreachable', pollIntervalS: settings.pollIntervalS, jitter: rng });
    const next = afterPass(agent.loop, o, now, agent.backoffMs);
    keep(agent.loop, next.schedule);
    agent.step = null;
    queue.push(next.wakeAt ?? now, agent.index, WAKE, 0);
  }

  function readChannel(agent: Agent): ChannelView {
    for (let si = 0; si < sources.length; si++) {
      if (isDown(si)) continue;
      const source = sources[si] as SourceSpec;
      const where = ledger.channel(si, agent.slot);
      const version = channelAt(versions[si] ?? [], now);
      const fresh = agent.seen[si] !== version.generation;
      count(agent, si, 'GET', where, fresh ? 'channel 200' : 'channel 304', fresh ? CHANNEL_BYTES : 0);
      agent.seen[si] = version.generation;
      agent.conditions.set('ChannelRead', true, 'Read');
      return version.view;
    }
    agent.conditions.set('ChannelRead', false, 'Unreachable', 'following the channel failed; the running app keeps serving');
    return { kind: 'unreachable', error: 'every source is down' };
  }

  function later(agent: Agent, ms: number, fn: () => void): void {
    agent.next = fn;
    queue.push(now + ms, agent.index, CONTINUE, 0);
  }

  function act(agent: Agent, step: Step): void {
    const done = (outcome: 'progress' | 'settled' | 'failed') => endPass(agent, outcome);
    if ('check' in step && step.check && rolloutHalted(agent, step.check)) return done('progress');
    switch (step.kind) {
      case 'none':
      case 'wait':
        return endPass(agent, 'settled');
      case 'fetch':
        return fetch(agent, step.desired, done);
      case 'switch':
        agent.previous = { id: step.from, sinceMs: now };
        agent.conditions.set('Draining', true, 'Draining');
        agent.drained = true;
        return later(agent, settings.drainS * 1000, () => {
          agent.runnerState = 'stopping';
          reportChanged(agent);
          later(agent, between(timings.stopMs), () => {
            agent.running = null;
            agent.runnerState = 'idle';
            agent.healthy = false;
            reportChanged(agent);
            agent.conditions.set('Draining', false, 'Serving');
            start(agent, step.desired, () => {
              agent.previous = { id: step.from, sinceMs: now };
              done('progress');
            });
          });
        });
      case 'start':
        return start(agent, step.desired, () => done('progress'));
      default:
        throw new Error(`the simulation does not model the step "${step.kind}"`);
    }
  }

  /**
   * As the agent's act does before a step toward the channel's release: one listing of its
   * failure markers (from the writable source that gave the channel), counted by haltOf. The
   * simulated fleet fails nothing, so the listing finds none.
   */
  function rolloutHalted(agent: Agent, check: { release: string; generation: number }): boolean {
    const channel = agent.channel?.kind === 'found' ? agent.channel.channel : null;
    if (!channel) return false;
    const si = firstUp(true);
    if (si >= 0) count(agent, si, 'LIST', ledger.scopes(si, 'LIST', layout.failuresPrefix(ROLE, check.release)), 'failure markers', 0);
    const halt = haltOf(channel, []);
    agent.failureCheck = { ...check, halted: halt.halted, reason: null };
    return halt.halted;
  }

  function fetch(agent: Agent, id: string, done: (outcome: 'progress' | 'failed') => void): void {
    agent.conditions.set('Fetched', false, 'Fetching');
    if (agent.running?.id !== id) agent.conditions.set('Applied', false, 'Pending');
    const si = firstUp(false);
    const manifest = releases.get(id);
    if (si < 0 || !manifest) {
      agent.conditions.set('Fetched', false, 'FetchFailed', `cannot fetch release ${id}`);
      agent.fetchFailed = id;
      return done('failed');
    }
    count(agent, si, 'GET', ledger.scopes(si, 'GET', layout.manifest(ROLE, id)), 'manifest', MANIFEST_BYTES);
    for (const ref of [manifest.code, manifest.config]) {
      if (ref && !agent.blobs.has(ref.digest)) count(agent, si, 'GET', ledger.scopes(si, 'GET', layout.blob(ref.digest)), 'blob', ref.size);
    }
    later(agent, between(timings.fetchMs), () => {
      agent.installed.set(id, manifest);
      for (const ref of [manifest.code, manifest.config]) if (ref) agent.blobs.add(ref.digest);
      agent.fetchFailed = null;
      agent.conditions.set('Fetched', true, 'Fetched');
      done('progress');
    });
  }

  function start(agent: Agent, id: string, done: () => void): void {
    const manifest = agent.installed.get(id) as ReleaseManifest;
    agent.conditions.set('Applied', false, 'Starting');
    agent.running = { id, manifest };
    agent.runnerState = 'starting';
    reportChanged(agent);
    later(agent, between(timings.startMs), () => {
      agent.runnerState = 'running';
      agent.healthy = true;
      reportChanged(agent);
      agent.local = { ...agent.local, lastKnownGood: id };
      agent.conditions.set('Applied', true, 'Running');
      if (rollAtMs !== null && now >= rollAtMs && id === 'v2' && agent.appliedAt === null) {
        agent.appliedAt = now;
        if (++appliedCount === rollTarget) end = Math.min(end, now + 2_000);
      }
      done();
    });
  }

  /**
   * How long until the next poll of an agent that has polled for a while: a moment at random
   * falls in a poll delay with a chance in proportion to its length, and anywhere within it.
   * The delays are the agent's own (pollDelayMs), drawn until one is kept with that chance
   * (any bound above the longest delay will do).
   */
  function sinceLastPoll(): number {
    const bound = 2 * pollMs;
    for (;;) {
      const delay = pollDelay();
      if (rng() * bound < delay) return rng() * delay;
    }
  }

  // --- the fleet, idle on v1 as if it had run for a while: polls, heartbeats and credentials at random phases ---
  const agents: Agent[] = [];
  for (let i = 0; i < input.instances; i++) {
    const agent = idleAgent(i);
    agents.push(agent);
    queue.push(agent.loop.nextPollAt, i, WAKE, 0);
    armReport(agent);
  }
  function idleAgent(index: number): Agent {
    const id = `i-0${Math.floor(rng() * 2 ** 32).toString(16).padStart(8, '0')}${index.toString(16).padStart(9, '0')}`;
    const agent: Agent = {
      index, id, slot: slotOf(id), live: false, conditions: new Conditions(() => reportChanged(agent), clock),
      loop: { nextPollAt: now + sinceLastPoll(), failures: 0, progressInARow: 0 },
      report: { pendingSince: null, lastWriteAt: now - rng() * heartbeatMs }, reportToken: 0,
      running: { id: 'v1', manifest: v1 }, runnerState: 'running', healthy: true, installed: new Map([['v1', v1]]),
      blobs: new Set([v1.code.digest, ...(v1.config ? [v1.config.digest] : [])]), local: { failed: {}, lastKnownGood: 'v1' }, previous: null,
      channel: null, seen: sources.map((_, si) => (si === 0 ? 1 : null)), sessionUntil: sources.map(() => now + SESSION_RENEW_MS + rng() * (SESSION_MS - SESSION_RENEW_MS)),
      desired: 'v1', fetchFailed: null, failureCheck: null, next: null, step: null, backoffMs: () => 0, appliedAt: null, drained: false,
    };
    agent.backoffMs = (failures) => retryDelayMs({ failures, serving: agent.running !== null, pollIntervalS: settings.pollIntervalS, jitter: rng });
    agent.conditions.set('ChannelRead', true, 'Read');
    agent.conditions.set('Fetched', true, 'Fetched');
    agent.conditions.set('Applied', true, 'Running');
    agent.live = true;
    return agent;
  }

  if (rollAtMs !== null && input.roll) {
    const channel = makeChannel({ release: 'v2', previous: 'v1', generation: 2, at: rollAtMs, rollout: input.roll });
    sources.forEach((s, si) => versions[si]?.push(channelVersion(channel, rollAtMs + (s.channelDelayMs ?? 0))));
  }

  // With a roll, the run ends 2 s after the last instance in the rollout applied it (or at endMs).
  const rollTarget = rollAtMs === null ? 0 : agents.filter((a) => a.slot < (input.roll?.percent ?? 0)).length;
  let end = endMs;
  for (let e = queue.pop(); e && e.at < end; e = queue.pop()) {
    now = e.at;
    const agent = agents[e.agent] as Agent;
    if (e.kind === WAKE) pass(agent);
    else if (e.kind === CONTINUE) {
      const fn = agent.next;
      agent.next = null;
      fn?.();
    } else if (e.token === agent.reportToken) writeReport(agent);
  }

  const inRollout = rollAtMs === null ? [] : agents.filter((a) => a.slot < (input.roll?.percent ?? 0));
  const applied = inRollout.filter((a) => a.appliedAt !== null);
  return {
    input, startMs, rollAtMs, endMs: end, rates: ledger.rates,
    idle: { windowS: input.idleMs / 1000, counts: ledger.idleCounts(), byWhat: ledger.byWhat },
    reportKeyPeakPerS: ledger.reportKeyPeak,
    rollByWhat: ledger.rollByWhat,
    latency: {
      withDrain: applied.map((a) => (a.appliedAt as number) - (rollAtMs as number)),
      withoutDrain: applied.map((a) => (a.appliedAt as number) - (rollAtMs as number) - (a.drained ? settings.drainS * 1000 : 0)),
      notApplied: inRollout.length - applied.length, inRollout: inRollout.length,
    },
    passes,
  };
}

const UNREAD_DATE = { toISOString: () => 'simulated' } as Date;
const WAKE = 0;
const CONTINUE = 1;
const REPORT = 2;
