// herd status's pure parts as tables: ages, staleness, sorting, unreadable reports kept as
// rows, the summary, and the text people read.
import { describe, expect, it } from 'vitest';
import { buildStatus, formatAge, renderStatus, type ReportRead } from '../../agent/commands/status.ts';
import type { Channel, InstanceReport } from '../../agent/store/schemas.ts';

const NOW = new Date('2026-11-22T12:00:00.000Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();
const channel: Channel = {
  schema: 'herd/channel@1', role: 'web', release: 'v2', previous: 'v1',
  rollout: { percent: 50, waves: 2, waveIntervalS: 300, startedAt: '2026-11-22T11:00:00.000Z' },
  paused: false, generation: 4, updatedAt: '2026-11-22T11:57:00.000Z', updatedBy: 'alice@laptop',
};
const report = (over: Partial<InstanceReport>): InstanceReport => ({
  schema: 'herd/instance@1', instanceId: 'i-x', role: 'web', az: 'eu-west-1a', region: 'eu-west-1',
  release: 'v2', desired: 'v2', state: 'running', healthy: true, lastError: null, failedReleases: [],
  agentVersion: '0.1.0', updatedAt: ago(4), ...over,
});

describe('formatAge', () => {
  it.each([
    [0, '0s'], [4.9, '4s'], [59, '59s'], [60, '1m'], [3599, '59m'], [3600, '1h'], [86_399, '23h'], [86_400, '1d'], [10 * 86_400, '10d'], [-5, '0s'],
  ])('%s s is %s', (s, text) => {
    expect(formatAge(s)).toBe(text);
  });
});

describe('buildStatus', () => {
  const reports: ReportRead[] = [
    report({ instanceId: 'i-c', az: 'eu-west-1b', updatedAt: ago(10) }),
    { key: 'herd/roles/web/instances/i-broken.json', error: 'herd/roles/web/instances/i-broken.json: not valid JSON (Unexpected token)' },
    report({ instanceId: 'i-b', az: 'eu-west-1a', release: 'v1', healthy: false, state: 'crash-loop', lastError: 'app exited with code 1' }),
    report({ instanceId: 'i-a', az: 'eu-west-1b', updatedAt: ago(61) }),
    report({ instanceId: 'i-z', az: 'eu-west-1a', updatedAt: ago(60) }),
    report({ instanceId: 'i-other', role: 'api' }),
  ];
  const status = buildStatus({ role: 'web', channel, reports, now: NOW, staleAfterS: 60 });

  it('sorts by AZ then instance, with unreadable reports last', () => {
    expect(status.instances.map((r) => r.instance)).toEqual(['i-b', 'i-z', 'i-a', 'i-c', 'i-broken', 'i-other']);
  });

  it('keeps an unparseable report as a row naming the error', () => {
    const row = status.instances.find((r) => r.instance === 'i-broken');
    expect(row).toMatchObject({ error: expect.stringContaining('not valid JSON'), az: null, healthy: null, ageS: null, stale: false });
  });

  it('refuses a report that names another role, as a row', () => {
    expect(status.instances.find((r) => r.instance === 'i-other')?.error).toBe('report names role "api", expected "web"');
  });

  it('flags a report older than --stale-after, not one exactly at it', () => {
    const byId = Object.fromEntries(status.instances.map((r) => [r.instance, r]));
    expect([byId['i-a']?.ageS, byId['i-a']?.stale]).toEqual([61, true]);
    expect([byId['i-z']?.ageS, byId['i-z']?.stale]).toEqual([60, false]);
  });

  it('summarises: healthy counts only fresh reports; on-release counts the channel\'s release', () => {
    expect(status.summary).toEqual({ instances: 6, healthy: 2, onRelease: 3, stale: 1, unreadable: 2 });
  });

  it('copies the report fields a script needs', () => {
    expect(status.instances[0]).toEqual({
      instance: 'i-b', az: 'eu-west-1a', region: 'eu-west-1', release: 'v1', desired: 'v2', state: 'crash-loop', healthy: false,
      lastError: 'app exited with code 1', failedReleases: [], agentVersion: '0.1.0', updatedAt: ago(4), ageS: 4, stale: false, error: null,
    });
    expect(status).toMatchObject({ role: 'web', channel, channelError: null, staleAfterS: 60, generatedAt: NOW.toISOString() });
  });

  it('shows a report from a clock ahead of ours as age 0', () => {
    const ahead = buildStatus({ role: 'web', channel, reports: [report({ updatedAt: ago(-30) })], now: NOW, staleAfterS: 60 });
    expect(ahead.instances[0]).toMatchObject({ ageS: 0, stale: false });
  });

  it('counts nothing on the release without a channel', () => {
    const none = buildStatus({ role: 'web', channel: null, reports: [report({})], now: NOW, staleAfterS: 60 });
    expect(none.summary).toEqual({ instances: 1, healthy: 1, onRelease: 0, stale: 0, unreadable: 0 });
  });
});

describe('renderStatus', () => {
  const reports: ReportRead[] = [
    report({ instanceId: 'i-0bbbbbbbbbbbbbbbb', az: 'eu-west-1b', release: 'v1', desired: 'v2', state: 'fetching', healthy: false, updatedAt: ago(3 * 60), lastError: `cannot fetch\n${'x'.repeat(100)}` }),
    report({ instanceId: 'i-0aaaa', az: 'eu-west-1a' }),
    { key: 'herd/roles/web/instances/i-bad.json', error: 'not valid JSON' },
  ];

  it('prints the channel on top, an aligned table, and a summary line', () => {
    const text = renderStatus(buildStatus({ role: 'web', channel, reports, now: NOW, staleAfterS: 60 }));
    const lines = text.split('\n');
    expect(lines.slice(0, 4)).toEqual([
      'channel  web -> v2 (previous v1)',
      'rollout  50% in 2 waves every 300s, from 2026-11-22T11:00:00.000Z',
      'paused   no',
      'updated  generation 4, 2026-11-22T11:57:00.000Z (3m ago) by alice@laptop',
    ]);
    const table = lines.slice(5, 9);
    expect(table[0]).toMatch(/^INSTANCE\s+AZ\s+RELEASE\s+DESIRED\s+STATE\s+HEALTHY\s+LAST SEEN\s+ERROR$/);
    expect(table[1]).toMatch(/^i-0aaaa\s+eu-west-1a\s+v2\s+v2\s+running\s+yes\s+4s$/);
    expect(table[2]).toMatch(/^i-0bbbbbbbbbbbbbbbb\s+eu-west-1b\s+v1\s+v2\s+fetching\s+no\s+3m STALE\s+cannot fetch x+…$/);
    expect(table[3]).toMatch(/^i-bad\s+-\s+-\s+-\s+-\s+-\s+-\s+unreadable: not valid JSON$/);
    // Aligned: every column starts at the same offset on every line.
    for (const column of ['AZ', 'RELEASE', 'LAST SEEN']) {
      const offset = table[0]?.indexOf(column) ?? -1;
      for (const row of table.slice(1)) expect(row[offset - 1]).toBe(' ');
      expect(table[1]?.slice(offset, offset + 2)).not.toBe('  ');
    }
    expect(lines[10]).toBe('3 instances: 1 healthy, 1 on v2, 1 stale (no report for over 60s), 1 unreadable');
    expect(lines).toHaveLength(11);
  });

  it('says when the channel is paused, missing or unreadable, and when no instance reported', () => {
    const pausedText = renderStatus(buildStatus({ role: 'web', channel: { ...channel, paused: true, previous: null, rollout: { ...channel.rollout, waves: 1, percent: 100 } }, reports: [], now: NOW, staleAfterS: 60 }));
    expect(pausedText).toContain('channel  web -> v2 (previous none)');
    expect(pausedText).toContain('rollout  100% at once');
    expect(pausedText).toContain('paused   YES');
    expect(pausedText.split('\n').at(-1)).toBe('no instance of role web has reported yet');

    const missing = renderStatus(buildStatus({ role: 'web', channel: null, reports: [report({})], now: NOW, staleAfterS: 60 }));
    expect(missing.split('\n')[0]).toBe('channel  none for role web (run herd roll)');
    expect(missing.split('\n').at(-1)).toBe('1 instance: 1 healthy, 0 stale (no report for over 60s)');

    const broken = renderStatus(buildStatus({ role: 'web', channel: null, channelError: 'channel.json: generation: too small', reports: [], now: NOW, staleAfterS: 60 }));
    expect(broken.split('\n')[0]).toBe('channel  unreadable: channel.json: generation: too small');
  });

  it.each([
    ['signed, valid', { expiresAt: '2026-11-28T12:00:00.000Z' }, { keyId: '93c8888c7d4937c2', error: null },
      'signed   by key 93c8888c7d4937c2, expires 2026-11-28T12:00:00.000Z (in 6d)'],
    ['signed, expired (a freeze)', { expiresAt: '2026-11-22T10:00:00.000Z' }, { keyId: '93c8888c7d4937c2', error: null },
      'signed   by key 93c8888c7d4937c2, EXPIRED 2026-11-22T10:00:00.000Z (2h ago): agents with trustedKeys refuse it: run herd resign --role web --sign-key FILE'],
    ['expiresAt without a signature', { expiresAt: '2026-11-28T12:00:00.000Z' }, null,
      'signed   NO SIGNATURE (channel.json.sig missing): agents with trustedKeys refuse it, expires 2026-11-28T12:00:00.000Z (in 6d)'],
    ['a signature without expiresAt', {}, { keyId: '93c8888c7d4937c2', error: null },
      'signed   by key 93c8888c7d4937c2, NO EXPIRY: agents with trustedKeys refuse it: run herd resign --role web --sign-key FILE'],
    ['an unreadable signature', { expiresAt: '2026-11-28T12:00:00.000Z' }, { keyId: null, error: 'not valid JSON' },
      'signed   UNREADABLE SIGNATURE (not valid JSON), expires 2026-11-28T12:00:00.000Z (in 6d)'],
  ] as const)('says who signed the channel and until when: %s', (_what, over, signature, line) => {
    const status = buildStatus({ role: 'web', channel: { ...channel, ...over }, signature, reports: [], now: NOW, staleAfterS: 60 });
    expect(renderStatus(status).split('\n')[4]).toBe(line);
    expect(status.expired).toBe(line.includes('EXPIRED'));
  });

  it('prints no signed line for an unsigned channel without expiry', () => {
    expect(renderStatus(buildStatus({ role: 'web', channel, signature: null, reports: [], now: NOW, staleAfterS: 60 }))).not.toContain('signed');
  });
});
