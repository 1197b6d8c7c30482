import { describe, expect, it } from 'vitest';
import { describeNotice, readNotice } from '../../agent/lifecycle/termination.ts';

describe('readNotice', () => {
  it.each([
    ['nothing', { spot: null, lifecycle: 'InService' }, null],
    ['no lifecycle answer', { spot: null, lifecycle: null }, null],
    ['warm pool states are not termination', { spot: null, lifecycle: 'Warmed:Stopped' }, null],
    ['Terminated', { spot: null, lifecycle: 'Terminated\n' }, { kind: 'lifecycle', state: 'Terminated' }],
    ['a spot notice', { spot: '{"action":"stop","time":"2026-11-22T14:00:00Z"}', lifecycle: 'InService' }, { kind: 'spot', action: 'stop', time: '2026-11-22T14:00:00Z' }],
    ['an unparsable spot notice still counts', { spot: 'garbage', lifecycle: null }, { kind: 'spot', action: 'terminate', time: null }],
  ])('%s', (_name, input, expected) => {
    expect(readNotice(input)).toEqual(expected);
  });
  it('describes notices for people', () => {
    expect(describeNotice({ kind: 'spot', action: 'hibernate', time: null })).toBe('spot interruption notice (hibernate)');
  });
});
