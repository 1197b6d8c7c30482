import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentSourceFromFlags, applyEnvOverrides, buildConfig, DEFAULT_REPORT_HEARTBEAT_S, loadConfig, sourceFromFlags, type SourceConfig } from '../../agent/config.ts';
import { DEFAULT_STALE_AFTER_S } from '../../agent/commands/defaults.ts';
import { ConfigError, UsageError } from '../../agent/errors.ts';

const minimal = { sources: [{ bucket: 'fleet-bucket' }] };

describe('buildConfig', () => {
  it('fills the documented defaults from only sources', () => {
    const config = buildConfig(minimal, 'agent.json');
    expect(config).toMatchObject({
      dataDir: '/var/lib/herd', healthPort: 9787, pollIntervalS: 10, drainS: 15, reportHeartbeatS: 1800, keepReleases: 3, appUser: 'app',
      trustedKeys: [], limits: { maxBundleBytes: 1024 ** 3, maxUnpackedBytes: 4 * 1024 ** 3, maxEntries: 100_000 },
      identity: { provider: 'imds', roleTag: 'herd:role' },
    });
    expect(config.sources[0]).toEqual({ bucket: 'fleet-bucket', prefix: 'herd' });
  });

  it('is frozen all the way down', () => {
    const config = buildConfig(minimal, 'agent.json');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.sources[0])).toBe(true);
    expect(Object.isFrozen(config.limits)).toBe(true);
  });

  it.each([
    [{}, 'sources'],
    [{ sources: [] }, 'sources: needs at least one source'],
    [{ sources: [{ bucket: 'b1x', endpoint: 'not a url' }] }, 'sources.0.endpoint'],
    [{ sources: [{ bucket: 'b1x', endpoint: 'localhost:4569' }] }, 'agent.json: sources.0.endpoint: must be an http:// or https:// URL'],
    [{ sources: [{ bucket: 'ab' }] }, 'agent.json: sources.0.bucket: must be an S3 bucket name: 3-63 of [a-z0-9.-]'],
    [{ ...minimal, healthPort: 70000 }, 'healthPort'],
    [{ ...minimal, dataDir: 'relative/dir' }, 'dataDir: must be an absolute path'],
    [{ ...minimal, keepReleases: 0 }, 'keepReleases'],
    [{ ...minimal, pollIntervalS: 'ten' }, 'pollIntervalS'],
    [{ ...minimal, reportHeartbeatS: 0.5 }, 'reportHeartbeatS'],
    [{ ...minimal, limits: { maxEntries: -1 } }, 'limits.maxEntries'],
    [{ ...minimal, identity: { provider: 'gcp' } }, 'identity.provider'],
    [{ ...minimal, identity: { provider: 'static', role: 'web' } }, 'identity.instanceId'],
    [{ ...minimal, identity: { provider: 'static', instanceId: 'i-1', role: '../etc' } }, 'identity.role'],
    [{ ...minimal, bogus: true }, 'bogus'],
    [{ sources: [{ url: 'ftp://mirror.example/herd' }] }, 'agent.json: sources.0.url: must be an absolute http:// or https:// URL'],
    [{ sources: [{ url: '/srv/herd' }] }, 'agent.json: sources.0.url: must be an absolute http:// or https:// URL'],
    [{ sources: [{ url: 'https://user:secret@cdn.example/herd' }] }, 'agent.json: sources.0.url: must not carry credentials'],
    [{ sources: [{ url: 'https://cdn.example/herd?token=x' }] }, 'agent.json: sources.0.url: must have no query (?) or fragment (#)'],
    [{ sources: [{ url: 'https://cdn.example/herd#x' }] }, 'sources.0.url: must have no query (?) or fragment (#)'],
    [{ sources: [{ url: 'https://cdn.example/herd', prefix: 'herd' }] }, 'agent.json: sources.0: Unrecognized key: "prefix"'],
    [{ sources: [{ url: 'https://cdn.example/herd', bucket: 'fleet' }] }, 'agent.json: sources.0: must be a bucket source {"bucket": ...} or an HTTP(S) source {"url": ...}, not both'],
    [{ sources: [{}] }, 'sources.0: must be a bucket source'],
  ])('refuses %j naming %s', (raw, named) => {
    expect(() => buildConfig(raw, 'agent.json')).toThrowError(ConfigError);
    expect(() => buildConfig(raw, 'agent.json')).toThrowError(named);
  });

  it('herd status calls a report stale after three of the default heartbeats (docs/scale.md chose 30 min)', () => {
    expect(DEFAULT_REPORT_HEARTBEAT_S).toBe(1800);
    expect(DEFAULT_STALE_AFTER_S).toBe(3 * DEFAULT_REPORT_HEARTBEAT_S);
  });

  it('takes an HTTP(S) source by its URL, without a trailing slash, next to a bucket', () => {
    const config = buildConfig({ sources: [{ url: 'https://cdn.example.com/herd/' }, { url: 'http://10.0.0.5:8080' }, { bucket: 'fleet-bucket' }] }, 'x');
    expect(config.sources).toEqual([{ url: 'https://cdn.example.com/herd' }, { url: 'http://10.0.0.5:8080' }, { bucket: 'fleet-bucket', prefix: 'herd' }]);
  });

  it('does not echo a URL\'s credentials in the error', () => {
    const err = (() => { try { buildConfig({ sources: [{ url: 'https://user:hunter2@cdn.example/herd' }] }, 'x'); } catch (e) { return e as Error; } })();
    expect(err?.message).toContain('sources.0.url: must not carry credentials');
    expect(err?.message).not.toContain('hunter2');
  });

  it('strips slashes around a prefix', () => {
    expect((buildConfig({ sources: [{ bucket: 'bkt', prefix: '/fleet/prod/' }] }, 'x').sources[0] as SourceConfig).prefix).toBe('fleet/prod');
  });
});

describe('applyEnvOverrides', () => {
  it.each([
    [{ HERD_HEALTH_PORT: '9000' }, { healthPort: 9000 }],
    [{ HERD_DATA_DIR: '/srv/herd' }, { dataDir: '/srv/herd' }],
    [{ HERD_APP_USER: 'none' }, { appUser: null }],
    [{ HERD_SOURCES: '[{"bucket":"other"}]' }, { sources: [{ bucket: 'other' }] }],
    [{ AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:1338' }, { identity: { provider: 'imds', endpoint: 'http://127.0.0.1:1338' } }],
    [{ HERD_HEALTH_PORT: '' }, {}],
  ])('%j overrides to %j', (env, expected) => {
    expect(applyEnvOverrides({}, env)).toEqual(expected);
  });

  it('does not give a static identity an imds endpoint', () => {
    const out = applyEnvOverrides({ identity: { provider: 'static', instanceId: 'i', role: 'web' } }, { AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://x' });
    expect(out.identity).toEqual({ provider: 'static', instanceId: 'i', role: 'web' });
  });

  it.each([
    [{ HERD_HEALTH_PORT: 'abc' }, 'HERD_HEALTH_PORT: "abc" is not a number'],
    [{ HERD_SOURCES: '[{' }, 'HERD_SOURCES: not valid JSON'],
  ])('refuses %j', (env, message) => {
    expect(() => applyEnvOverrides({}, env)).toThrowError(message);
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'herd-config-'));

  it('reads the file and lets HERD_* win', () => {
    const file = join(dir, 'agent.json');
    writeFileSync(file, JSON.stringify({ ...minimal, healthPort: 1000 }));
    expect(loadConfig({ file, env: { HERD_HEALTH_PORT: '2000' } }).healthPort).toBe(2000);
    expect(loadConfig({ file, env: { HERD_REPORT_HEARTBEAT_S: '60' } }).reportHeartbeatS).toBe(60);
  });

  it('names the file when it is not JSON', () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{ "sources": ');
    expect(() => loadConfig({ file, env: {} })).toThrowError(/broken\.json: not valid JSON/);
  });

  it('refuses a missing explicit file with exit code 2', () => {
    try {
      loadConfig({ file: join(dir, 'absent.json'), env: {} });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).exitCode).toBe(2);
      expect((err as Error).message).toContain('absent.json: no such file');
    }
  });

  it('runs from the environment alone when the default file is absent', () => {
    const config = loadConfig({ env: { HERD_CONFIG: undefined, HERD_SOURCES: '[{"bucket":"envbucket"}]' } });
    expect(config.sources[0]).toEqual({ bucket: 'envbucket', prefix: 'herd' });
  });
});

describe('sourceFromFlags', () => {
  it('takes flags over the standard AWS variables', () => {
    expect(sourceFromFlags({ bucket: 'flagbucket', endpoint: 'http://127.0.0.1:9' }, { AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_S3: 'http://x:1' }))
      .toEqual({ bucket: 'flagbucket', prefix: 'herd', region: 'eu-west-1', endpoint: 'http://127.0.0.1:9' });
  });
  it('needs a bucket', () => {
    expect(() => sourceFromFlags({}, {})).toThrowError('--bucket is required');
  });
  it.each([
    [{ bucket: 'ab' }, {}, '--bucket "ab" is not a bucket name'],
    [{}, { HERD_BUCKET: 'ab' }, 'HERD_BUCKET "ab" is not a bucket name'],
    [{ bucket: 'b1x' }, { AWS_ENDPOINT_URL: 'ftp://x' }, 'AWS_ENDPOINT_URL "ftp://x" is not an endpoint'],
    [{ bucket: 'b1x', endpoint: 'ftp://x' }, { AWS_ENDPOINT_URL: 'http://x' }, '--endpoint "ftp://x" is not an endpoint'],
  ])('names the flag or variable a bad value came from: %j %j', (flags, env, message) => {
    expect(() => sourceFromFlags(flags, env)).toThrowError(UsageError);
    expect(() => sourceFromFlags(flags, env)).toThrowError(message);
  });
});

describe('agentSourceFromFlags (herd pull)', () => {
  it('takes --url as an HTTP(S) source, and the bucket flags otherwise', () => {
    expect(agentSourceFromFlags({ url: 'https://cdn.example.com/herd' }, { HERD_BUCKET: 'ignored' })).toEqual({ url: 'https://cdn.example.com/herd' });
    expect(agentSourceFromFlags({ bucket: 'fleet-bucket' }, {})).toEqual({ bucket: 'fleet-bucket', prefix: 'herd' });
  });
  it.each([
    [{ url: 'ftp://x/herd' }, '--url "ftp://x/herd" is not a source URL: an absolute http:// or https:// URL'],
    [{ url: 'https://cdn.example/herd?sig=1' }, '--url "https://cdn.example/herd?sig=1" is not a source URL'],
    [{ url: 'https://cdn.example/herd', bucket: 'fleet', pathStyle: true }, '--url names the whole source: give it without --bucket, --path-style'],
  ])('refuses %j', (flags, message) => {
    expect(() => agentSourceFromFlags(flags, {})).toThrowError(UsageError);
    expect(() => agentSourceFromFlags(flags, {})).toThrowError(message);
  });
});
