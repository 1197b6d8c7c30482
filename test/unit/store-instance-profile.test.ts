// Instance-profile credentials against the fake IMDSv2 server over real HTTP, on a clock the
// test moves: read once and held, refreshed five minutes before they expire (in the
// background while they serve, awaited once expired), and kept through a metadata outage.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../agent/errors.ts';
import { ImdsClient } from '../../agent/identity/imds-client.ts';
import { createLogger, silentLogger, type Logger } from '../../agent/log.ts';
import { credentialStep, extendedExpiry, instanceProfileCredentials, parseCredentialsDocument } from '../../agent/store/instance-profile.ts';
import { startImdsServer, type ImdsServer } from '../fixtures/imds-server.ts';

const ROLE = 'herd-instance-role';
const DOC_PATH = `meta-data/iam/security-credentials/${ROLE}`;
const MIN = 60_000;
const T0 = Date.parse('2030-06-01T12:00:00Z');

let server: ImdsServer;
let clock: number;

beforeEach(async () => {
  clock = T0;
  server = await startImdsServer({
    instanceId: 'i-1', region: 'eu-west-1', az: 'eu-west-1a', tags: null,
    credentials: { accessKeyId: 'unused', secretAccessKey: 'unused' }, roleName: ROLE,
  });
});
afterEach(async () => {
  await server.close();
});

/** The metadata service hands out `keyId` from now on, expiring at `expiresAt` (test clock). */
function vend(keyId: string, expiresAt: number): void {
  server.set(DOC_PATH, JSON.stringify({
    Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: keyId, SecretAccessKey: `secret-of-${keyId}`, Token: `token-of-${keyId}`,
    Expiration: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  }));
}

function documentReads(): number {
  return server.requests.filter((r) => r.path === `/latest/${DOC_PATH}` && r.status === 200).length;
}

function provider(log: Logger = silentLogger(), random = 0.5) {
  const imds = new ImdsClient({ log, endpoint: server.url, retryDelayMs: 1 });
  return instanceProfileCredentials({ imds, log, now: () => clock, random: () => random });
}

describe('credentialStep and extendedExpiry', () => {
  it.each([
    ['nothing held', null, T0, 'fetch'],
    ['an hour left', { expiresAt: T0 + 60 * MIN }, T0, 'use'],
    ['just over five minutes left', { expiresAt: T0 + 5 * MIN + 1 }, T0, 'use'],
    ['five minutes left', { expiresAt: T0 + 5 * MIN }, T0, 'use-and-refresh'],
    ['a second left', { expiresAt: T0 + 1000 }, T0, 'use-and-refresh'],
    ['expired', { expiresAt: T0 }, T0, 'fetch'],
  ])('%s: %s', (_name, held, now, step) => {
    expect(credentialStep(held && { credentials: { accessKeyId: 'a', secretAccessKey: 's' }, ...held }, now)).toBe(step);
  });

  it('a failed refresh counts the held credentials valid 5 to 10 minutes more', () => {
    expect(extendedExpiry(T0, 0)).toBe(T0 + 5 * MIN);
    expect(extendedExpiry(T0, 0.999)).toBeLessThan(T0 + 10 * MIN);
    expect(extendedExpiry(T0, 0.5)).toBe(T0 + 7.5 * MIN);
  });
});

describe('instance-profile credentials', () => {
  it('reads the role, then its document; holds them, and concurrent first callers share one read', async () => {
    vend('AKONE', T0 + 6 * 60 * MIN);
    const credentials = provider();
    const all = await Promise.all([credentials(), credentials(), credentials()]);
    for (const c of all) expect(c).toEqual({ accessKeyId: 'AKONE', secretAccessKey: 'secret-of-AKONE', sessionToken: 'token-of-AKONE' });
    clock += 5 * 60 * MIN;
    await credentials();
    expect(server.requests.filter((r) => r.method === 'GET').map((r) => r.path))
      .toEqual(['/latest/meta-data/iam/security-credentials/', `/latest/${DOC_PATH}`]);
  });

  it('five minutes before expiry: answers with the held ones at once and refreshes in the background', async () => {
    vend('AKONE', T0 + 60 * MIN);
    const credentials = provider();
    await credentials();
    vend('AKTWO', T0 + 120 * MIN);
    clock = T0 + 56 * MIN;
    expect((await credentials()).accessKeyId).toBe('AKONE');
    await until(() => documentReads() === 2);
    expect((await credentials()).accessKeyId).toBe('AKTWO');
    expect(documentReads()).toBe(2);
  });

  it('past expiry: waits for the new ones', async () => {
    vend('AKONE', T0 + 60 * MIN);
    const credentials = provider();
    await credentials();
    vend('AKTWO', T0 + 120 * MIN);
    clock = T0 + 61 * MIN;
    expect((await credentials()).accessKeyId).toBe('AKTWO');
  });

  it('an outage while held: keeps them with a warning (no secret), tries again later, and takes the new ones once back', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
    vend('AKONE', T0 + 60 * MIN);
    const credentials = provider(log, 0.5);
    await credentials();
    server.unavailable(true);
    clock = T0 + 61 * MIN; // expired, and the metadata service is down
    expect((await credentials()).accessKeyId).toBe('AKONE');
    const warnings = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40);
    expect(warnings.map((w) => w.msg)).toEqual([expect.stringContaining('instance-profile credentials could not be refreshed')]);
    expect(warnings[0]?.msg).toContain('503');
    for (const secret of ['secret-of-AKONE', 'token-of-AKONE', server.lastToken() ?? 'no token']) expect(lines.join('\n')).not.toContain(secret);

    // Held for 7.5 more minutes (random 0.5): no attempt for the first 2.5, then one in the background.
    const attempts = () => server.requests.filter((r) => r.status === 503).length;
    const failed = attempts();
    clock += 2 * MIN;
    expect((await credentials()).accessKeyId).toBe('AKONE');
    expect(attempts()).toBe(failed);
    server.unavailable(false);
    vend('AKTWO', T0 + 180 * MIN);
    clock += 1 * MIN;
    expect((await credentials()).accessKeyId).toBe('AKONE');
    await until(() => documentReads() === 2);
    expect((await credentials()).accessKeyId).toBe('AKTWO');
  });

  it('credentials handed out already expired are used a little longer, as the SDK does', async () => {
    vend('AKSTALE', T0 - MIN);
    const credentials = provider();
    expect((await credentials()).accessKeyId).toBe('AKSTALE');
    clock += 2 * MIN;
    await credentials();
    expect(documentReads()).toBe(1);
  });

  it('an outage with nothing held fails, and the next request tries again', async () => {
    vend('AKONE', T0 + 60 * MIN);
    server.unavailable(true);
    const credentials = provider();
    const err = await credentials().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(/^no AWS credentials: .*instance profile could not be read .*503/);
    server.unavailable(false);
    expect((await credentials()).accessKeyId).toBe('AKONE');
  });

  it('an instance without an instance profile: an error that says to attach one', async () => {
    await server.close();
    server = await startImdsServer({ instanceId: 'i-1', region: 'eu-west-1', az: 'eu-west-1a', tags: null });
    const err = await provider()().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toContain('the instance has no instance profile');
    expect((err as Error).message).toContain('attach an IAM role to the instance');
  });

  it('a role name that is not one is refused before it goes into a path', async () => {
    server.set('meta-data/iam/security-credentials/', '../../user-data');
    const err = await provider()().catch((e: unknown) => e);
    expect((err as Error).message).toContain('not an IAM role name');
    expect(server.requests.some((r) => r.path.includes('user-data'))).toBe(false);
  });
});

describe('parseCredentialsDocument', () => {
  it.each([
    ['not JSON', 'AccessKeyId=secret', 'is not JSON'],
    ['a field missing', JSON.stringify({ AccessKeyId: 'a', SecretAccessKey: 's', Expiration: '2030-01-01T00:00:00Z' }), 'lacks Token'],
    ['an Expiration that is no date', JSON.stringify({ AccessKeyId: 'a', SecretAccessKey: 's', Token: 't', Expiration: 'soon' }), 'not a date'],
  ])('%s', (_name, text, message) => {
    expect(() => parseCredentialsDocument(text, ROLE)).toThrow(message);
    expect(() => parseCredentialsDocument(text, ROLE)).not.toThrow(/secret/);
  });
});

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(done()).toBe(true);
}
