// The rollback decision as a table: swap release and previous, 100% at once, unpaused,
// generation bumped; nothing to roll back to is a usage error (exit 2).
import { describe, expect, it } from 'vitest';
import { resumedNote, rollbackChannel } from '../../agent/commands/rollback.ts';
import { UsageError } from '../../agent/errors.ts';
import { channelSchema, type Channel } from '../../agent/store/schemas.ts';

const NOW = new Date('2026-11-22T12:00:00.000Z');
const base: Channel = {
  schema: 'herd/channel@1', role: 'web', release: 'v2', previous: 'v1',
  rollout: { percent: 25, waves: 4, waveIntervalS: 300, startedAt: '2026-11-22T11:00:00.000Z' },
  paused: false, generation: 7, updatedAt: '2026-11-22T11:00:00.000Z', updatedBy: 'alice@laptop',
};

describe('rollbackChannel', () => {
  it('points the channel at previous, remembers what it rolled back from, and is valid', () => {
    const next = rollbackChannel({ current: base, actor: 'bob@ops', now: NOW });
    expect(next).toEqual({
      schema: 'herd/channel@1', role: 'web', release: 'v1', previous: 'v2',
      rollout: { percent: 100, waves: 1, waveIntervalS: 0, startedAt: NOW.toISOString() },
      paused: false, generation: 8, updatedAt: NOW.toISOString(), updatedBy: 'bob@ops',
    });
    expect(channelSchema.safeParse(next).success).toBe(true);
  });

  it.each([
    ['a partial wave rollout', { rollout: { percent: 10, waves: 5, waveIntervalS: 60, startedAt: base.rollout.startedAt } }],
    ['a paused channel', { paused: true }],
    ['a 0% rollout', { rollout: { percent: 0, waves: 1, waveIntervalS: 0, startedAt: base.rollout.startedAt } }],
  ])('from %s: everyone at once, unpaused', (_what, patch) => {
    const next = rollbackChannel({ current: { ...base, ...patch }, actor: 'bob@ops', now: NOW });
    expect(next.rollout).toEqual({ percent: 100, waves: 1, waveIntervalS: 0, startedAt: NOW.toISOString() });
    expect(next.paused).toBe(false);
    expect([next.release, next.previous]).toEqual(['v1', 'v2']);
  });

  it('rolling back twice returns to where it started', () => {
    const once = rollbackChannel({ current: base, actor: 'a', now: NOW });
    const twice = rollbackChannel({ current: once, actor: 'a', now: NOW });
    expect([twice.release, twice.previous, twice.generation]).toEqual(['v2', 'v1', 9]);
  });

  it.each([
    ['no previous release', { previous: null }, 'nothing to roll back to: role web runs v2 and its channel has no previous release'],
    ['previous equal to release', { previous: 'v2' }, "nothing to roll back to: role web's previous release is v2"],
  ])('refuses a channel with %s as a usage error', (_what, patch, message) => {
    const attempt = () => rollbackChannel({ current: { ...base, ...patch }, actor: 'a', now: NOW });
    expect(attempt).toThrow(UsageError);
    expect(attempt).toThrow(message);
  });
});

describe('resumedNote', () => {
  it.each([
    [true, 'channel web was paused; rollback resumes it'],
    [false, null],
  ])('wasPaused %s: %s', (wasPaused, note) => {
    const channel = rollbackChannel({ current: { ...base, paused: wasPaused }, actor: 'a', now: NOW });
    expect(resumedNote({ channel, signedBy: null, from: 'v2', wasPaused })).toBe(note);
  });
});
