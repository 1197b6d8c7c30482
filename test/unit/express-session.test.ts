// Directory buckets in the agent's own S3 client: which names are directory buckets and where
// their requests go (the AWS SDK's endpoint rules), and how a session is cached and renewed.
import { describe, expect, it } from 'vitest';
import { ExpressSessions, needsRenewal, parseCreateSession } from '../../agent/store/express-session.ts';
import { directoryBucketZone, s3Target } from '../../agent/store/s3-endpoint.ts';

describe('a directory bucket by its name', () => {
  it.each([
    ['fleet--use1-az4--x-s3', 'use1-az4'],
    ['a--b--c--usw2-az1--x-s3', 'usw2-az1'],
    ['fleet-bucket', undefined],
    ['fleet--x-s3', undefined],
    ['fleet--use1-az4--x-s3.example', undefined],
    ['fleet.dots--use1-az4--x-s3', undefined],
    ['fleet--use1-az4--xa-s3', undefined],
  ])('%s: zone %s', (bucket, zone) => {
    expect(directoryBucketZone(bucket)).toBe(zone);
  });

  it.each([
    [{ region: 'us-east-1' }, 'fleet--use1-az4--x-s3.s3express-use1-az4.us-east-1.amazonaws.com', ''],
    [{ region: 'us-east-1', forcePathStyle: true }, 'fleet--use1-az4--x-s3.s3express-use1-az4.us-east-1.amazonaws.com', ''],
    [{ region: 'us-east-1', fips: true }, 'fleet--use1-az4--x-s3.s3express-fips-use1-az4.us-east-1.amazonaws.com', ''],
    [{ region: 'us-east-1', dualstack: true }, 'fleet--use1-az4--x-s3.s3express-use1-az4.dualstack.us-east-1.amazonaws.com', ''],
    [{ region: 'cn-north-1' }, 'fleet--use1-az4--x-s3.s3express-use1-az4.cn-north-1.amazonaws.com.cn', ''],
    [{ region: 'us-east-1', endpoint: 'http://127.0.0.1:9000' }, '127.0.0.1', '/fleet--use1-az4--x-s3'],
  ])('%j: host %s, path %s', (options, hostname, basePath) => {
    const target = s3Target({ bucket: 'fleet--use1-az4--x-s3', forcePathStyle: 'endpoint' in options, ...options });
    expect(target.hostname).toBe(hostname);
    expect(target.basePath).toBe(basePath);
    expect(target.protocol).toBe('endpoint' in options ? 'http:' : 'https:');
  });
});

const answer = (expiresAt: number, id = 'ASIAONE') => '<CreateSessionResult><Credentials><SessionToken>tok-' + id + '</SessionToken>'
  + `<SecretAccessKey>secret-${id}</SecretAccessKey><AccessKeyId>${id}</AccessKeyId><Expiration>${new Date(expiresAt).toISOString()}</Expiration></Credentials></CreateSessionResult>`;

describe('directory bucket sessions', () => {
  it('reads the CreateSession answer, and names what it lacks without printing a value', () => {
    expect(parseCreateSession(answer(300_000), 0)).toEqual({
      accessKeyId: 'ASIAONE', secretAccessKey: 'secret-ASIAONE', sessionToken: 'tok-ASIAONE', expiresAt: 300_000, obtainedAt: 0,
    });
    expect(() => parseCreateSession('<Credentials><SecretAccessKey>s3cr3t</SecretAccessKey></Credentials>', 0))
      .toThrow(/^the CreateSession answer has no AccessKeyId, SessionToken, Expiration$/);
  });

  it.each([
    [0, false], [239_999, false], [240_000, true], [300_000, true],
  ])('a 5-minute session at %i ms needs renewal: %s', (now, expected) => {
    expect(needsRenewal({ accessKeyId: 'a', secretAccessKey: 's', sessionToken: 't', expiresAt: 300_000, obtainedAt: 0 }, now)).toBe(expected);
  });

  it('renews a short session a fifth of its life early, not on every request', () => {
    const session = { accessKeyId: 'a', secretAccessKey: 's', sessionToken: 't', expiresAt: 5_000, obtainedAt: 0 };
    expect(needsRenewal(session, 3_999)).toBe(false);
    expect(needsRenewal(session, 4_000)).toBe(true);
  });

  it('caches one session, shares one renewal between concurrent requests, and renews a minute early', async () => {
    let now = 0;
    let created = 0;
    let release: () => void = () => {};
    const sessions = new ExpressSessions({
      now: () => now,
      createSession: async () => {
        created++;
        await new Promise<void>((resolve) => { release = resolve; });
        return answer(now + 300_000, `ASIA${created}`);
      },
    });
    const concurrent = [sessions.current(), sessions.current(), sessions.current()];
    release();
    const got = await Promise.all(concurrent);
    expect(created).toBe(1);
    expect(new Set(got.map((s) => s.sessionToken))).toEqual(new Set(['tok-ASIA1']));
    now = 239_000;
    expect((await sessions.current()).sessionToken).toBe('tok-ASIA1');
    expect(created).toBe(1);
    now = 240_000;
    const renewing = sessions.current();
    release();
    expect((await renewing).sessionToken).toBe('tok-ASIA2');
    expect(created).toBe(2);
  });

  it('forgets a refused session and makes a fresh one; a failed CreateSession is tried again next time', async () => {
    let created = 0;
    let fail = true;
    const sessions = new ExpressSessions({
      now: () => 0,
      createSession: async () => {
        if (fail) throw new Error('CreateSession failed: AccessDenied');
        created++;
        return answer(300_000, `ASIA${created}`);
      },
    });
    await expect(sessions.current()).rejects.toThrow(/AccessDenied/);
    fail = false;
    const first = await sessions.current();
    sessions.forget(first);
    expect((await sessions.current()).sessionToken).toBe('tok-ASIA2');
    sessions.forget(first);
    expect((await sessions.current()).sessionToken).toBe('tok-ASIA2');
  });
});
