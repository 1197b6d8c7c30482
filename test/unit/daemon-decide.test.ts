// decideStep as a table: every step kind, with an injected clock (nowMs) and no I/O.
import { describe, expect, it } from 'vitest';
import { decideStep, CRASH_LOOP_WINDOW_MS, type Observed, type StepKind } from '../../agent/daemon/decide.ts';
import { slotOf } from '../../agent/rollout/decide.ts';
import type { Channel, ReleaseManifest } from '../../agent/store/schemas.ts';

const T0 = Date.parse('2026-11-22T12:00:00.000Z');
function channel(over: Partial<Omit<Channel, 'rollout'>> & { rollout?: Partial<Channel['rollout']> } = {}): Channel {
  return {
    schema: 'herd/channel@1', role: 'web', release: 'v2', previous: 'v1', paused: false, generation: 7,
    updatedAt: new Date(T0).toISOString(), updatedBy: 'ops@host', ...over,
    rollout: { percent: 100, waves: 1, waveIntervalS: 0, startedAt: new Date(T0).toISOString(), ...over.rollout },
  };
}
function manifest(id: string, code = id, reloadSignal?: 'SIGHUP'): ReleaseManifest {
  return {
    schema: 'herd/release@1', role: 'web', id, createdAt: new Date(T0).toISOString(),
    code: { digest: `sha256:${code.padEnd(64, '0').slice(0, 64).replace(/[^0-9a-f]/g, 'a')}`, size: 1 }, config: null,
    run: { command: ['node', 'server.mjs'], port: 8080, health: { path: '/healthz', timeoutS: 5 }, ...(reloadSignal ? { reloadSignal } : {}) },
  } as ReleaseManifest;
}
const on = (...ids: string[]) => new Map(ids.map((id) => [id, manifest(id)]));
const running = (id: string, state: 'running' | 'crash-loop' | 'starting' = 'running', m = manifest(id), healthy = state === 'running') => ({ id, manifest: m, state, healthy });
const failed = (generation: number | null) => ({ reason: 'gate', at: new Date(T0).toISOString(), generation });
const instanceIn = (pred: (slot: number) => boolean) => {
  for (let i = 0; i < 10_000; i++) if (pred(slotOf(`i-${i}`))) return `i-${i}`;
  throw new Error('none');
};

function observed(over: Partial<Observed> = {}): Observed {
  return {
    nowMs: T0 + 60_000, instanceId: 'i-1', channel: { kind: 'found', channel: channel() }, running: running('v1'),
    installed: on('v1', 'v2'), local: { failed: {}, lastKnownGood: 'v1' }, previous: null, fetchFailed: null, termination: null, launchHookPending: false,
    failureCheck: { release: 'v2', generation: 7, halted: false, reason: null },
    ...over,
  };
}

const cases: Array<[string, Partial<Observed>, StepKind, Record<string, unknown>?]> = [
  ['runs what the channel wants: nothing to do', { running: running('v2') }, 'none', { desired: 'v2' }],
  ['channel unreachable while serving: keep serving', { channel: { kind: 'unreachable', error: 'down' } }, 'wait', { reason: 'down' }],
  ['channel absent while serving: keep serving', { channel: { kind: 'absent', detail: 'no channel' } }, 'wait'],
  ['channel refused (signed channels) while serving: keep serving', { channel: { kind: 'refused', error: 'channel refused, rollback: ...' } }, 'wait', { reason: 'channel refused, rollback: ...', desired: null }],
  ['not on disk: fetch it while the old app serves', { installed: on('v1') }, 'fetch', { desired: 'v2' }],
  ['nothing runs and it is on disk: start', { running: null }, 'start', { desired: 'v2', generation: 7 }],
  ['other code: drain and switch', {}, 'switch', { desired: 'v2', from: 'v1' }],
  ['same code with a reload signal: reload', {
    running: running('v1', 'running', manifest('v1', 'same', 'SIGHUP')),
    installed: new Map([['v1', manifest('v1', 'same', 'SIGHUP')], ['v2', manifest('v2', 'same', 'SIGHUP')]]),
  }, 'reload', { desired: 'v2', from: 'v1', signal: 'SIGHUP' }],
  ['a switch failed (nothing runs, target failed): go back', {
    running: null, previous: { id: 'v1', sinceMs: T0 }, local: { failed: { v2: failed(7) }, lastKnownGood: 'v1' },
  }, 'go-back', { from: 'v2', to: 'v1' }],
  ['a reload failed (what runs failed here): go back', {
    running: running('v2'), previous: { id: 'v1', sinceMs: T0 }, local: { failed: { v2: failed(7) }, lastKnownGood: 'v1' },
  }, 'go-back', { from: 'v2', to: 'v1' }],
  ['a young release crash-loops: go back', {
    running: running('v2', 'crash-loop'), previous: { id: 'v1', sinceMs: T0 + 60_000 - CRASH_LOOP_WINDOW_MS + 1 },
  }, 'go-back', { from: 'v2', to: 'v1', reason: 'crash loop' }],
  ['an old release crash-loops: no going back (the cause is elsewhere)', {
    running: running('v2', 'crash-loop'), previous: { id: 'v1', sinceMs: T0 + 60_000 - CRASH_LOOP_WINDOW_MS - 1 },
  }, 'none'],
  ['every source down at boot: last-known-good', { running: null, channel: { kind: 'unreachable', error: 'down' } }, 'run-last-known-good', { release: 'v1' }],
  ['no channel anywhere at boot: last-known-good', { running: null, channel: { kind: 'absent', detail: 'none' } }, 'run-last-known-good'],
  ['channel refused at boot: last-known-good', { running: null, channel: { kind: 'refused', error: 'channel refused, expired: ...' } }, 'run-last-known-good', { release: 'v1' }],
  ['fetch failed at boot: last-known-good while retrying', { running: null, installed: on('v1'), fetchFailed: 'v2' }, 'run-last-known-good', { release: 'v1' }],
  ['fetch failed at boot, no last-known-good: fetch again', {
    running: null, installed: on(), fetchFailed: 'v2', local: { failed: {}, lastKnownGood: null },
  }, 'fetch'],
  ['wanted release failed here at boot: last-known-good', { running: null, local: { failed: { v2: failed(7) }, lastKnownGood: 'v1' }, channel: { kind: 'found', channel: channel({ previous: null }) } }, 'run-last-known-good'],
  ['failed here, nothing else to run: wait for the channel to change', {
    running: null, local: { failed: { v2: failed(7) }, lastKnownGood: null }, channel: { kind: 'found', channel: channel({ previous: null }) },
  }, 'wait', { desired: 'v2' }],
  ['the last-known-good failed here too, nothing runs: keep trying it (backing off)', {
    running: null, local: { failed: { v2: failed(7), v1: failed(7) }, lastKnownGood: 'v1' }, channel: { kind: 'found', channel: channel({ previous: null }) },
  }, 'run-last-known-good', { release: 'v1' }],
  ['failed for an older generation: tried again', { running: null, local: { failed: { v2: failed(6) }, lastKnownGood: null } }, 'start'],
  ['termination notice: drain', { termination: { reason: 'spot', done: false } }, 'drain-for-termination'],
  ['terminated: nothing new is applied', { termination: { reason: 'spot', done: true }, installed: on('v1') }, 'none'],
  ['launch hook pending, a release serves healthy: CONTINUE', { launchHookPending: true }, 'complete-launch-hook', { result: 'CONTINUE' }],
  ['launch hook pending, the app not healthy yet: the release step first', { launchHookPending: true, running: null }, 'start'],
  ['launch hook pending, nothing can run: ABANDON', {
    launchHookPending: true, running: null, local: { failed: { v2: failed(7) }, lastKnownGood: null }, channel: { kind: 'found', channel: channel({ previous: null }) },
  }, 'complete-launch-hook', { result: 'ABANDON' }],
  ['launch hook pending, the store down at boot: keep waiting (heartbeats), no ABANDON', {
    launchHookPending: true, running: null, local: { failed: {}, lastKnownGood: null }, channel: { kind: 'unreachable', error: 'down' },
  }, 'wait'],
  ['paused while serving: keep serving', { channel: { kind: 'found', channel: channel({ paused: true }) } }, 'none', { desired: 'v1' }],
  ['outside a 0% rollout: previous', { channel: { kind: 'found', channel: channel({ rollout: { percent: 0 } }) } }, 'none', { desired: 'v1' }],
  // A rollout that halts itself (agent/rollout/halt.ts): markers are counted once per release and generation.
  ['the channel\'s release not checked yet: the switch counts its failure markers first', { failureCheck: null }, 'switch', { check: { release: 'v2', generation: 7 } }],
  ['not checked yet and not on disk: the fetch counts them first', { failureCheck: null, installed: on('v1') }, 'fetch', { check: { release: 'v2', generation: 7 } }],
  ['checked for an older generation: count again', { failureCheck: { release: 'v2', generation: 6, halted: true, reason: 'old' } }, 'switch', { check: { release: 'v2', generation: 7 } }],
  ['halted while serving: keep what runs', {
    failureCheck: { release: 'v2', generation: 7, halted: true, reason: 'rollout of v2 halted' },
  }, 'wait', { desired: 'v1', reason: 'rollout of v2 halted' }],
  ['halted with nothing running: start what the fleet ran before', {
    running: null, failureCheck: { release: 'v2', generation: 7, halted: true, reason: 'halted' },
  }, 'start', { desired: 'v1' }],
  ['halted, nothing running, the release before not on disk: fetch it', {
    running: null, installed: on('v2'), failureCheck: { release: 'v2', generation: 7, halted: true, reason: 'halted' },
  }, 'fetch', { desired: 'v1' }],
  ['runs the channel\'s release already: no check needed', { running: running('v2'), failureCheck: null }, 'none'],
  ['outside the rollout: runs previous, no check needed', {
    instanceId: instanceIn((s) => s >= 50), channel: { kind: 'found', channel: channel({ rollout: { percent: 50 } }) }, failureCheck: null,
  }, 'none', { desired: 'v1' }],
];

describe('decideStep', () => {
  it.each(cases)('%s', (_name, over, kind, fields = {}) => {
    const step = decideStep(observed(over));
    expect(step.kind).toBe(kind);
    expect(step).toMatchObject(fields);
  });

  it('counts failure markers once per release and generation', () => {
    expect('check' in decideStep(observed())).toBe(false);
  });

  it('covers every step kind', () => {
    const kinds = new Set(cases.map((c) => c[2]));
    expect([...kinds].sort()).toEqual(['complete-launch-hook', 'drain-for-termination', 'fetch', 'go-back', 'none', 'reload', 'run-last-known-good', 'start', 'switch', 'wait']);
  });

  it('a wave not yet due keeps previous and names when to look again', () => {
    const id = instanceIn((s) => s >= 50);
    const ch = channel({ rollout: { percent: 100, waves: 2, waveIntervalS: 300 } });
    const step = decideStep(observed({ instanceId: id, channel: { kind: 'found', channel: ch } }));
    expect(step).toMatchObject({ kind: 'none', desired: 'v1', until: T0 + 300_000 });
    expect(decideStep(observed({ instanceId: id, channel: { kind: 'found', channel: ch }, nowMs: T0 + 300_000 }))).toMatchObject({ kind: 'switch', desired: 'v2' });
  });
});
