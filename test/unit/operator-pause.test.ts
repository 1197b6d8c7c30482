// pause / resume as a table: flip `paused` with a new generation, no-op when already so,
// and a resumed wave rollout keeps the spacing of the waves the pause held back; a roll
// onto a paused channel keeps it paused.
import { describe, expect, it } from 'vitest';
import { describePause, pausedChannel } from '../../agent/commands/pause.ts';
import { nextChannel, pausedNote } from '../../agent/commands/roll.ts';
import { decideRelease, slotOf } from '../../agent/rollout/decide.ts';
import { channelSchema, type Channel } from '../../agent/store/schemas.ts';

const at = (iso: string) => new Date(iso);
const running: Channel = {
  schema: 'herd/channel@1', role: 'web', release: 'v2', previous: 'v1',
  rollout: { percent: 100, waves: 1, waveIntervalS: 0, startedAt: '2026-11-22T10:00:00.000Z' },
  paused: false, generation: 3, updatedAt: '2026-11-22T10:00:00.000Z', updatedBy: 'alice@laptop',
};
const paused: Channel = { ...running, paused: true, generation: 4, updatedAt: '2026-11-22T10:30:00.000Z', updatedBy: 'bob@ops' };

describe('pausedChannel', () => {
  it('pauses: paused true, generation+1, who and when; the rollout is untouched', () => {
    const { channel, changed } = pausedChannel({ current: running, paused: true, actor: 'bob@ops', now: at('2026-11-22T10:30:00.000Z') });
    expect(changed).toBe(true);
    expect(channel).toEqual(paused);
    expect(channelSchema.safeParse(channel).success).toBe(true);
  });

  it('resumes: paused false, generation+1', () => {
    const { channel, changed } = pausedChannel({ current: paused, paused: false, actor: 'carol@ops', now: at('2026-11-22T11:00:00.000Z') });
    expect(changed).toBe(true);
    expect(channel).toMatchObject({ paused: false, generation: 5, updatedAt: '2026-11-22T11:00:00.000Z', updatedBy: 'carol@ops', rollout: running.rollout });
  });

  it.each([
    ['pausing a paused channel', paused, true],
    ['resuming a running channel', running, false],
  ])('%s changes nothing', (_what, current, wanted) => {
    const result = pausedChannel({ current, paused: wanted, actor: 'x', now: at('2026-11-22T12:00:00.000Z') });
    expect(result).toEqual({ channel: current, changed: false });
  });

  // 4 waves 10 minutes apart from 10:00 (last wave due 10:30), paused at 10:12 (wave 1 was due).
  const waves: Channel = {
    ...running, paused: true, updatedAt: '2026-11-22T10:12:00.000Z',
    rollout: { percent: 100, waves: 4, waveIntervalS: 600, startedAt: '2026-11-22T10:00:00.000Z' },
  };
  it.each([
    ['a wave rollout cut short: start moves by the 60 minutes paused', waves, '2026-11-22T11:12:00.000Z', '2026-11-22T11:00:00.000Z'],
    ['a wave rollout whose last wave was due before the pause: unchanged', { ...waves, updatedAt: '2026-11-22T10:45:00.000Z' }, '2026-11-22T11:45:00.000Z', '2026-11-22T10:00:00.000Z'],
    ['a single-wave rollout: unchanged', { ...waves, rollout: { ...waves.rollout, waves: 1, waveIntervalS: 0 } }, '2026-11-22T11:12:00.000Z', '2026-11-22T10:00:00.000Z'],
    ['a pause stamped in the future (clock skew): unchanged', waves, '2026-11-22T10:00:00.000Z', '2026-11-22T10:00:00.000Z'],
  ])('resuming %s', (_what, current, now, startedAt) => {
    const { channel } = pausedChannel({ current, paused: false, actor: 'x', now: at(now) });
    expect(channel.rollout.startedAt).toBe(startedAt);
    expect(channel.rollout.waves).toBe(current.rollout.waves);
  });

  it('after a resume, a wave held back by the pause is due later; one already due stays due', () => {
    const now = at('2026-11-22T11:12:00.000Z');
    const { channel } = pausedChannel({ current: waves, paused: false, actor: 'x', now });
    const idWithSlot = (lo: number, hi: number) => {
      for (let i = 0; ; i++) if (slotOf(`i-${i}`) >= lo && slotOf(`i-${i}`) < hi) return `i-${i}`;
    };
    const state = { failed: {} };
    // Slot 30 is in wave 1 (due 10:10, before the pause): still due now.
    expect(decideRelease({ channel, instanceId: idWithSlot(25, 50), now, state, running: 'v1' })).toMatchObject({ kind: 'run', release: 'v2' });
    // Slot 60 is in wave 2 (due 10:20, after the pause): due 11:20 now, not at once.
    expect(decideRelease({ channel, instanceId: idWithSlot(50, 75), now, state, running: 'v1' })).toMatchObject({ kind: 'wait', release: 'v1' });
  });
});

describe('describePause', () => {
  it.each([
    [{ channel: paused, changed: true }, 'web: paused on v2 (generation 4)'],
    [{ channel: paused, changed: false }, 'web: already paused; nothing changed (generation 4)'],
    [{ channel: running, changed: true }, 'web: running on v2 (generation 3)'],
    [{ channel: running, changed: false }, 'web: already running; nothing changed (generation 3)'],
  ])('says what happened', (result, line) => {
    expect(describePause(result)).toBe(line);
  });
});

describe('roll onto a paused channel', () => {
  const roll = (current: Channel, now: string, how = { percent: 100, waves: 1, waveIntervalS: 0 }) =>
    nextChannel({ current, role: 'web', release: 'v3', ...how, actor: 'dave@ops', now: at(now) });

  it('keeps it paused, with the new release and a new generation; a running channel stays running', () => {
    expect(roll(paused, '2026-11-22T10:40:00.000Z')).toMatchObject({ release: 'v3', previous: 'v2', paused: true, generation: 5 });
    expect(roll(running, '2026-11-22T10:40:00.000Z')).toMatchObject({ release: 'v3', previous: 'v2', paused: false, generation: 4 });
  });

  it('says so, and how to go on', () => {
    expect(pausedNote(roll(paused, '2026-11-22T10:40:00.000Z'))).toBe('channel web is paused: release v3 will roll out when you run herd resume --role web');
    expect(pausedNote(roll(running, '2026-11-22T10:40:00.000Z'))).toBeNull();
  });

  it('a wave rollout rolled while paused starts its waves at resume, not at the roll', () => {
    const rolled = roll(paused, '2026-11-22T10:40:00.000Z', { percent: 100, waves: 4, waveIntervalS: 600 });
    const { channel } = pausedChannel({ current: rolled, paused: false, actor: 'x', now: at('2026-11-22T12:00:00.000Z') });
    expect(channel).toMatchObject({ paused: false, release: 'v3', rollout: { startedAt: '2026-11-22T12:00:00.000Z', waves: 4 } });
  });
});
