// state.json updates as a table: what a success and a failure record.
import { describe, expect, it } from 'vitest';
import { emptyState, withFailure, withLastKnownGood } from '../../agent/releases/state.ts';

const at = new Date('2026-12-01T12:00:00.000Z');

describe('withFailure / withLastKnownGood', () => {
  it.each([
    ['a failure for a generation records it', {}, 7, 7],
    ['a last-known-good failure (no generation) records none', {}, null, null],
    ['a last-known-good failure keeps the generation recorded before', { v1: { reason: 'gate', at: at.toISOString(), generation: 7 } }, null, 7],
    ['a newer generation replaces an older one', { v1: { reason: 'gate', at: at.toISOString(), generation: 7 } }, 8, 8],
  ])('%s', (_name, failed, generation, recorded) => {
    const state = withFailure({ ...emptyState(at), failed }, 'v1', { reason: 'again', generation }, at);
    expect(state.failed.v1).toEqual({ reason: 'again', generation: recorded, at: at.toISOString() });
  });

  it('a release that runs healthy is the last-known-good and no longer failed', () => {
    const failed = withFailure(emptyState(at), 'v1', { reason: 'gate', generation: 3 }, at);
    expect(withLastKnownGood(failed, 'v1', at)).toMatchObject({ lastKnownGood: 'v1', failed: {} });
  });
});
