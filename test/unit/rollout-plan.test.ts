import { describe, expect, it } from 'vitest';
import { planPrune } from '../../agent/releases/prune.ts';
import { planApply, pollDelayMs, retryDelayMs, shouldRollBackCrashLoop, waveWakeMs } from '../../agent/rollout/plan.ts';
import type { ReleaseManifest } from '../../agent/store/schemas.ts';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
function manifest(id: string, code = 'a', over: Partial<ReleaseManifest['run']> = {}): ReleaseManifest {
  return {
    schema: 'herd/release@1', role: 'web', id, createdAt: '2026-11-22T00:00:00.000Z',
    code: { digest: digest(code), size: 1 }, config: { digest: digest(id.length.toString(16).slice(-1)), size: 1 },
    run: { command: ['node', 's.mjs'], port: 8080, health: { path: '/h', timeoutS: 5 }, reloadSignal: 'SIGHUP', ...over },
  };
}

describe('planApply', () => {
  it.each([
    ['nothing runs: start', null, manifest('v1'), 'start'],
    ['same release: nothing', manifest('v1'), manifest('v1'), 'none'],
    ['same code with a reload signal: reload', manifest('v1'), manifest('v1-cfg'), 'reload'],
    ['other code: restart', manifest('v1'), manifest('v2', 'b'), 'restart'],
    ['same code, no reload signal: restart', manifest('v1'), manifest('v1-cfg', 'a', { reloadSignal: undefined }), 'restart'],
    ['same code, other run spec: restart', manifest('v1'), manifest('v1-cfg', 'a', { port: 9090 }), 'restart'],
  ])('%s', (_name, running, target, kind) => {
    expect(planApply(running, target).kind).toBe(kind);
  });
  it('reloads with the release\'s own signal', () => {
    expect(planApply(manifest('v1', 'a', { reloadSignal: 'SIGUSR2' }), manifest('v1-cfg', 'a', { reloadSignal: 'SIGUSR2' }))).toEqual({ kind: 'reload', signal: 'SIGUSR2' });
  });
});

describe('pollDelayMs', () => {
  it.each([[0, 8000], [0.5, 10000], [1, 12000]])('jitter %d of a 10 s interval is %d ms', (j, ms) => {
    expect(pollDelayMs(10, () => j)).toBe(ms);
  });
});

describe('waveWakeMs', () => {
  it.each([[0, 60_000], [0.5, 65_000], [0.999, 69_990]])('jitter %d: a wave due at 60 s is taken at %d ms, within one 10 s poll interval', (j, ms) => {
    expect(waveWakeMs(60_000, 10, () => j)).toBe(ms);
  });
});

describe('retryDelayMs', () => {
  it.each([
    ['serving: the first retry waits one poll interval', true, 1, 10, 1, 10_000],
    ['serving: doubling', true, 3, 10, 1, 40_000],
    ['serving: capped at a minute', true, 10, 10, 1, 60_000],
    ['serving, a poll interval over a minute: capped at it', true, 10, 120, 1, 120_000],
    ['not serving yet: from a second', false, 1, 10, 1, 1_000],
    ['not serving yet: capped at one poll interval', false, 10, 10, 1, 10_000],
    ['jitter keeps the upper half', true, 1, 10, 0, 5_000],
  ])('%s', (_name, serving, failures, pollIntervalS, jitter, ms) => {
    expect(retryDelayMs({ failures, serving, pollIntervalS, jitter: () => jitter })).toBe(ms);
  });
});

describe('shouldRollBackCrashLoop', () => {
  const base = { crashLoop: true, hasPrevious: true, switchedAtMs: 1_000, nowMs: 61_000, windowMs: 600_000 };
  it.each([
    ['a young release crash-looping goes back', base, true],
    ['no crash loop: stay', { ...base, crashLoop: false }, false],
    ['nothing to go back to: stay', { ...base, hasPrevious: false }, false],
    ['never switched here (boot): stay', { ...base, switchedAtMs: null }, false],
    ['an old release crash-looping: stay, the cause is elsewhere', { ...base, nowMs: 700_000 }, false],
  ])('%s', (_name, input, expected) => {
    expect(shouldRollBackCrashLoop(input)).toBe(expected);
  });
});

describe('planPrune', () => {
  const releases = [
    { id: 'r1', installedAtMs: 1 }, { id: 'r2', installedAtMs: 2 }, { id: 'r3', installedAtMs: 3 },
    { id: 'r4', installedAtMs: 4 }, { id: 'r5', installedAtMs: 5 },
  ];
  it.each([
    ['keeps the newest', 3, ['r5', null], ['r2', 'r1']],
    ['never deletes current or last-known-good, however old', 3, ['r5', 'r1'], ['r3', 'r2']],
    ['keeps every protected one even above keep', 1, ['r1', 'r2', 'r3'], ['r5', 'r4']],
    ['nothing to delete', 10, ['r5'], []],
  ])('%s', (_name, keep, protect, doomed) => {
    expect(planPrune({ releases, keep: keep as number, protect: protect as Array<string | null> })).toEqual(doomed);
  });
});
