import { describe, expect, it } from 'vitest';
import { decideRelease, slotOf, waveOf } from '../../agent/rollout/decide.ts';
import type { Channel } from '../../agent/store/schemas.ts';

const T0 = '2026-11-22T12:00:00.000Z';
function channel(over: Partial<Omit<Channel, 'rollout'>> & { rollout?: Partial<Channel['rollout']> } = {}): Channel {
  return {
    schema: 'herd/channel@1', role: 'web', release: 'v2', previous: 'v1', paused: false, generation: 7,
    updatedAt: T0, updatedBy: 'ops@host', ...over,
    rollout: { percent: 100, waves: 1, waveIntervalS: 0, startedAt: T0, ...over.rollout },
  };
}
const at = (s: number) => new Date(Date.parse(T0) + s * 1000);

/** Instance ids whose slots are known, found once from the hash. */
function idWithSlot(pred: (slot: number) => boolean): string {
  for (let i = 0; i < 10_000; i++) if (pred(slotOf(`i-${i}`))) return `i-${i}`;
  throw new Error('none');
}
const low = idWithSlot((s) => s < 10);
const mid = idWithSlot((s) => s >= 45 && s < 50);
const high = idWithSlot((s) => s >= 90);

describe('slotOf', () => {
  it('is stable and in 0-99', () => {
    expect(slotOf('i-0abc')).toBe(slotOf('i-0abc'));
    for (let i = 0; i < 500; i++) expect(slotOf(`i-${i}`)).toBeGreaterThanOrEqual(0);
    for (let i = 0; i < 500; i++) expect(slotOf(`i-${i}`)).toBeLessThan(100);
  });
  it('spreads instances roughly evenly', () => {
    const below50 = Array.from({ length: 2000 }, (_, i) => slotOf(`i-${i}`)).filter((s) => s < 50).length;
    expect(below50).toBeGreaterThan(850);
    expect(below50).toBeLessThan(1150);
  });
});

describe('waveOf', () => {
  it.each([
    [0, 100, 4, 0], [24, 100, 4, 0], [25, 100, 4, 1], [99, 100, 4, 3], [49, 50, 2, 1], [0, 50, 2, 0], [10, 100, 1, 0],
  ])('slot %i of %i%% in %i waves is wave %i', (slot, percent, waves, wave) => {
    expect(waveOf(slot, percent, waves)).toBe(wave);
  });
});

describe('decideRelease', () => {
  const none = { failed: {} };
  it.each([
    ['full rollout runs the release', channel(), low, null, 'run', 'v2'],
    ['outside a 50% rollout keeps previous', channel({ rollout: { percent: 50 } }), high, 'v1', 'run', 'v1'],
    ['inside a 50% rollout takes it', channel({ rollout: { percent: 50 } }), low, 'v1', 'run', 'v2'],
    ['outside with no previous runs the release', channel({ previous: null, rollout: { percent: 10 } }), high, null, 'run', 'v2'],
    ['paused keeps what runs', channel({ paused: true }), low, 'v1', 'wait', 'v1'],
    ['paused with nothing running boots the release', channel({ paused: true }), low, null, 'run', 'v2'],
    ['a later wave waits on previous', channel({ rollout: { waves: 2, waveIntervalS: 600 } }), high, 'v1', 'wait', 'v1'],
    ['the first wave goes now', channel({ rollout: { waves: 2, waveIntervalS: 600 } }), low, 'v1', 'run', 'v2'],
    ['a later wave runs previous, not whatever ran', channel({ rollout: { waves: 2, waveIntervalS: 600 } }), high, 'v0', 'wait', 'v1'],
    ['outside a rollout runs previous, not whatever ran', channel({ rollout: { percent: 50 } }), high, 'v0', 'run', 'v1'],
  ])('%s', (_name, ch, id, running, kind, release) => {
    const d = decideRelease({ channel: ch, instanceId: id, now: at(1), state: none, running });
    expect(d.kind).toBe(kind);
    expect(d.release).toBe(release);
  });

  it('a later wave goes once its time came', () => {
    const ch = channel({ rollout: { waves: 2, waveIntervalS: 600 } });
    expect(decideRelease({ channel: ch, instanceId: high, now: at(601), state: none, running: 'v1' })).toMatchObject({ kind: 'run', release: 'v2' });
    const wait = decideRelease({ channel: ch, instanceId: high, now: at(599), state: none, running: 'v1' });
    expect(wait.kind === 'wait' && wait.until?.toISOString()).toBe(at(600).toISOString());
  });

  it('does not retry a release that failed here until the channel changes', () => {
    const state = { failed: { v2: { reason: 'health', at: T0, generation: 7 } } };
    expect(decideRelease({ channel: channel(), instanceId: mid, now: at(1), state, running: 'v1' })).toMatchObject({ kind: 'wait', release: 'v1' });
    expect(decideRelease({ channel: channel({ generation: 8 }), instanceId: mid, now: at(1), state, running: 'v1' })).toMatchObject({ kind: 'run', release: 'v2' });
  });
});
