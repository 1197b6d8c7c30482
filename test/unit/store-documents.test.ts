import { describe, expect, it } from 'vitest';
import { nextChannel, rollWarning, validateRollFlags } from '../../agent/commands/roll.ts';
import { generateReleaseId, sameContents } from '../../agent/commands/publish.ts';
import { layoutFor, hexOf } from '../../agent/store/layout.ts';
import { channelSchema, releaseIdSchema, releaseManifestSchema, roleSchema, runSpecSchema, type ReleaseManifest } from '../../agent/store/schemas.ts';
import { formatIssues } from '../../agent/validate.ts';

const HEX = 'a'.repeat(64);

describe('names that become paths and keys', () => {
  it.each(['v1', 'v1.2.3', '2026-11-22_a', 'A'.repeat(128)])('accepts release id %s', (id) => {
    expect(releaseIdSchema.safeParse(id).success).toBe(true);
  });
  it.each(['', '..', '.', '.hidden', 'a/b', 'a b', 'A'.repeat(129), 'v1\n'])('refuses release id %j', (id) => {
    expect(releaseIdSchema.safeParse(id).success).toBe(false);
  });
  it.each(['../x', 'web/api', ''])('refuses role %j', (role) => {
    expect(roleSchema.safeParse(role).success).toBe(false);
  });
});

describe('herd.json run spec', () => {
  const good = { command: ['node', 'server.mjs'], port: 8080, health: { path: '/healthz' } };
  it('accepts a minimal spec and defaults the health timeout', () => {
    expect(runSpecSchema.parse(good).health.timeoutS).toBe(60);
  });
  it.each([
    [{ ...good, command: [] }, 'command'],
    [{ ...good, port: 0 }, 'port'],
    [{ ...good, health: {} }, 'health.path'],
    [{ ...good, health: { path: 'healthz' } }, 'health.path: must start with "/"'],
    [{ ...good, stopSignal: 'SIGFOO' }, 'stopSignal'],
    [{ ...good, env: { 'BAD-NAME': 'x' } }, 'env.BAD-NAME'],
    [{ ...good, extra: 1 }, 'extra'],
  ])('names the bad field of %j', (spec, field) => {
    const result = runSpecSchema.safeParse(spec);
    expect(result.success).toBe(false);
    if (!result.success) expect(formatIssues('herd.json', result.error)).toContain(field);
  });
});

describe('layout', () => {
  it('puts objects where SPEC says', () => {
    const l = layoutFor('herd');
    expect(l.blob(`sha256:${HEX}`)).toBe(`herd/blobs/sha256/${HEX}`);
    expect(l.manifest('web', 'v1')).toBe('herd/roles/web/releases/v1.json');
    expect(l.channel('web')).toBe('herd/roles/web/channel.json');
    expect(l.report('web', 'i-1')).toBe('herd/roles/web/instances/i-1.json');
    expect(layoutFor('').channel('web')).toBe('roles/web/channel.json');
    expect(l.agentExecutable(`sha256:${HEX}`)).toBe(`herd/agent/sha256/${HEX}`);
    expect(l.agentPointer()).toBe('herd/agent/linux-x64.json');
  });
  it('refuses a digest that is not sha256 hex', () => {
    expect(() => hexOf('sha256:../../x')).toThrow();
  });
});

const manifest: ReleaseManifest = {
  schema: 'herd/release@1', role: 'web', id: 'v1', createdAt: '2026-11-22T12:00:00.000Z',
  code: { digest: `sha256:${HEX}`, size: 10 }, config: null,
  run: { command: ['node', 's.mjs'], port: 8080, health: { path: '/h', timeoutS: 5 } },
};

describe('manifests', () => {
  it('parse strictly', () => {
    expect(releaseManifestSchema.safeParse(manifest).success).toBe(true);
    expect(releaseManifestSchema.safeParse({ ...manifest, code: { digest: 'md5:x', size: 1 } }).success).toBe(false);
    expect(releaseManifestSchema.safeParse({ ...manifest, schema: 'herd/release@2' }).success).toBe(false);
  });
  it('are the same release when only createdAt differs', () => {
    expect(sameContents(manifest, { ...manifest, createdAt: '2030-01-01T00:00:00.000Z' })).toBe(true);
    expect(sameContents(manifest, { ...manifest, code: { ...manifest.code, size: 11 } })).toBe(false);
    expect(sameContents(manifest, { ...manifest, run: { ...manifest.run, port: 9 } })).toBe(false);
  });
  it('get sortable generated ids tied to the code', () => {
    const id = generateReleaseId(new Date('2026-11-22T12:34:56.789Z'), `sha256:1234abcd${'0'.repeat(56)}`);
    expect(id).toBe('20261122T123456Z-1234abcd');
    expect(releaseIdSchema.safeParse(id).success).toBe(true);
  });
});

describe('channel after a roll', () => {
  const now = new Date('2026-11-22T12:00:00.000Z');
  const base = { role: 'web', percent: 100, waves: 1, waveIntervalS: 0, actor: 'ops@h', now };
  it('starts at generation 1 with no previous', () => {
    const ch = nextChannel({ ...base, current: null, release: 'v1' });
    expect(ch).toMatchObject({ release: 'v1', previous: null, generation: 1, paused: false });
    expect(channelSchema.safeParse(ch).success).toBe(true);
  });
  it('keeps what ran as previous and counts generations', () => {
    const v1 = nextChannel({ ...base, current: null, release: 'v1' });
    const v2 = nextChannel({ ...base, current: v1, release: 'v2' });
    expect(v2).toMatchObject({ release: 'v2', previous: 'v1', generation: 2 });
    const again = nextChannel({ ...base, current: v2, release: 'v2', percent: 100 });
    expect(again).toMatchObject({ release: 'v2', previous: 'v1', generation: 3 });
  });
  it('over a rollout that is halted or under way, keeps previous at what the fleet converged on', () => {
    const v1 = nextChannel({ ...base, current: null, release: 'v1' });
    const v2 = nextChannel({ ...base, current: v1, release: 'v2', waves: 3, waveIntervalS: 60 });
    expect(nextChannel({ ...base, current: v2, converged: false, release: 'v3' })).toMatchObject({ release: 'v3', previous: 'v1' });
    expect(nextChannel({ ...base, current: v2, converged: true, release: 'v3' })).toMatchObject({ release: 'v3', previous: 'v2' });
  });
  it('carries --max-failures into the rollout, and leaves it out when not given', () => {
    expect(nextChannel({ ...base, current: null, release: 'v1', maxFailures: 3 }).rollout.maxFailures).toBe(3);
    expect('maxFailures' in nextChannel({ ...base, current: null, release: 'v1' }).rollout).toBe(false);
    expect(() => validateRollFlags({ maxFailures: 0 })).toThrowError('--max-failures');
  });
  it.each([
    [{ percent: 101 }, '--percent'], [{ percent: 1.5 }, '--percent'], [{ waves: 0 }, '--waves'],
    [{ waves: 3 }, '--waves above 1 needs --wave-interval'], [{ waveIntervalS: -1 }, '--wave-interval'],
  ])('refuses roll flags %j', (flags, message) => {
    expect(() => validateRollFlags(flags)).toThrowError(message);
  });
});

describe('rollWarning', () => {
  const now = new Date('2026-11-22T12:00:00.000Z');
  const base = { role: 'web', percent: 100, waves: 1, waveIntervalS: 0, actor: 'ops@h', now };
  const v1 = nextChannel({ ...base, current: null, release: 'v1' });
  it.each([
    ['the first roll: nothing runs yet', v1, false],
    ['100% in one wave over a running release', nextChannel({ ...base, current: v1, release: 'v2' }), true],
    ['a share first', nextChannel({ ...base, current: v1, release: 'v2', percent: 25 }), false],
    ['in waves', nextChannel({ ...base, current: v1, release: 'v2', waves: 4, waveIntervalS: 60 }), false],
  ])('%s', (_name, channel, warns) => {
    expect(rollWarning(channel) !== null).toBe(warns);
  });
});
