// The fake IMDSv2 server answers like AWS's, checked with plain HTTP requests, and the
// real SDK default credential chain obtains the instance-profile credentials it vends.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { fromInstanceMetadata } from '@smithy/credential-provider-imds';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startImdsServer, type ImdsServer } from '../fixtures/imds-server.ts';

let server: ImdsServer;
const CREDS = { accessKeyId: 'AKIAFAKEINSTANCE', secretAccessKey: 'fake/secret+key', sessionToken: 'fake-session' };

beforeEach(async () => {
  server = await startImdsServer({
    instanceId: 'i-0abc',
    region: 'us-east-2',
    az: 'us-east-2a',
    tags: { 'herd:role': 'web', Name: 'n1' },
    credentials: CREDS,
    roleName: 'herd-web',
  });
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await server.close();
});

async function token(ttl = '60', extra: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}/latest/api/token`, {
    method: 'PUT',
    headers: { 'x-aws-ec2-metadata-token-ttl-seconds': ttl, ...extra },
  });
}

async function get(path: string, tok?: string): Promise<Response> {
  return fetch(`${server.url}/latest/${path}`, tok ? { headers: { 'x-aws-ec2-metadata-token': tok } } : {});
}

describe('fake IMDSv2 server', () => {
  it.each([
    ['missing', undefined, 400],
    ['zero', '0', 400],
    ['too long', '21601', 400],
    ['not a number', 'soon', 400],
    ['shortest', '1', 200],
    ['longest', '21600', 200],
  ])('token TTL %s -> %i', async (_name, ttl, status) => {
    const res = await fetch(`${server.url}/latest/api/token`, {
      method: 'PUT',
      headers: ttl === undefined ? {} : { 'x-aws-ec2-metadata-token-ttl-seconds': ttl },
    });
    expect(res.status).toBe(status);
    if (status === 200) {
      expect(res.headers.get('x-aws-ec2-metadata-token-ttl-seconds')).toBe(ttl);
      expect((await res.text()).length).toBeGreaterThan(20);
    }
  });

  it('refuses a forwarded token request (403) and a GET of the token path (405)', async () => {
    expect((await token('60', { 'x-forwarded-for': '203.0.113.9' })).status).toBe(403);
    expect((await fetch(`${server.url}/latest/api/token`)).status).toBe(405);
    expect(server.tokensIssued()).toBe(0);
  });

  it('answers 401 without a valid token, and the metadata with one', async () => {
    expect((await get('meta-data/instance-id')).status).toBe(401);
    expect((await get('meta-data/instance-id', 'made-up')).status).toBe(401);
    const tok = await (await token()).text();
    const res = await get('meta-data/instance-id', tok);
    expect([res.status, await res.text()]).toEqual([200, 'i-0abc']);
    expect(await (await get('meta-data/placement/region', tok)).text()).toBe('us-east-2');
    expect(await (await get('meta-data/placement/availability-zone', tok)).text()).toBe('us-east-2a');
    expect(await (await get('meta-data/tags/instance', tok)).text()).toBe('herd:role\nName');
    expect(await (await get('meta-data/tags/instance/herd%3Arole', tok)).text()).toBe('web');
    expect((await get('meta-data/tags/instance/Nope', tok)).status).toBe(404);
    expect(server.requests.slice(0, 2).map((r) => [r.hadToken, r.status])).toEqual([[false, 401], [true, 401]]);
    server.revokeTokens();
    expect((await get('meta-data/instance-id', tok)).status).toBe(401);
  });

  it('expires tokens after their TTL', async () => {
    const tok = await (await token('1')).text();
    expect((await get('meta-data/instance-id', tok)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1050));
    expect((await get('meta-data/instance-id', tok)).status).toBe(401);
  });

  it('answers 404 on the tags paths when metadata tags are off', async () => {
    const off = await startImdsServer({ instanceId: 'i-1', region: 'r', az: 'a', tags: null });
    try {
      const tok = await (await fetch(`${off.url}/latest/api/token`, {
        method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' },
      })).text();
      const h = { headers: { 'x-aws-ec2-metadata-token': tok } };
      expect((await fetch(`${off.url}/latest/meta-data/tags/instance`, h)).status).toBe(404);
      expect((await fetch(`${off.url}/latest/meta-data/tags/instance/herd:role`, h)).status).toBe(404);
      expect((await fetch(`${off.url}/latest/meta-data/iam/security-credentials/`, h)).status).toBe(404);
    } finally {
      await off.close();
    }
  });

  it('vends instance-profile credentials on the legacy and extended paths', async () => {
    const tok = await (await token()).text();
    for (const base of ['meta-data/iam/security-credentials', 'meta-data/iam/security-credentials-extended']) {
      expect(await (await get(`${base}/`, tok)).text()).toBe('herd-web');
      const doc = (await (await get(`${base}/herd-web`, tok)).json()) as Record<string, string>;
      expect(doc).toMatchObject({
        Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: CREDS.accessKeyId, SecretAccessKey: CREDS.secretAccessKey, Token: 'fake-session',
      });
      expect(Date.parse(doc.Expiration ?? '')).toBeGreaterThan(Date.now());
      expect('AccountId' in doc).toBe(base.endsWith('-extended'));
    }
  });
});

describe('the real SDK credential chain against the fake server', () => {
  function pointSdkAtServer(): void {
    const empty = mkdtempSync(join(tmpdir(), 'herd-no-aws-'));
    for (const name of [
      'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE',
      'AWS_ROLE_ARN', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI',
      'AWS_EC2_METADATA_DISABLED', 'AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE', 'AWS_EC2_METADATA_V1_DISABLED',
    ]) {
      vi.stubEnv(name, undefined);
    }
    vi.stubEnv('AWS_CONFIG_FILE', join(empty, 'config'));
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', join(empty, 'credentials'));
    vi.stubEnv('AWS_EC2_METADATA_SERVICE_ENDPOINT', server.url);
  }

  it('fromInstanceMetadata gets the credentials over IMDSv2', async () => {
    pointSdkAtServer();
    const creds = await fromInstanceMetadata()();
    expect(creds).toMatchObject({ accessKeyId: CREDS.accessKeyId, secretAccessKey: CREDS.secretAccessKey, sessionToken: 'fake-session' });
    expect(server.requests[0]).toMatchObject({ method: 'PUT', path: '/latest/api/token', status: 200 });
    expect(server.requests.slice(1).every((r) => r.hadToken && r.status === 200)).toBe(true);
  });

  it('an SDK client with no credentials configured uses them (the default chain)', async () => {
    pointSdkAtServer();
    const ec2 = new EC2Client({ region: 'us-east-2' });
    try {
      const creds = await ec2.config.credentials();
      expect(creds).toMatchObject({ accessKeyId: CREDS.accessKeyId, secretAccessKey: CREDS.secretAccessKey, sessionToken: 'fake-session' });
      expect(server.requests.map((r) => r.path)).toContain('/latest/meta-data/iam/security-credentials/herd-web');
      expect(server.requests.filter((r) => r.method !== 'PUT').every((r) => r.hadToken)).toBe(true);
    } finally {
      ec2.destroy();
    }
  });
});
