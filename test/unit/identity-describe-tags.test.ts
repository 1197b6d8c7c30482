// The DescribeTags fallback without the SDK's EC2 client: one signed EC2 Query API request
// against a fake EC2 endpoint over real HTTP (a form POST, an XML answer), where it goes,
// what it does with answers, errors and throttling; and resolveIdentity using it when
// instance metadata tags are off.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IdentityError } from '../../agent/errors.ts';
import { ec2Endpoint, parseTags, readRoleTagViaApi } from '../../agent/identity/describe-tags.ts';
import { resolveIdentity } from '../../agent/identity/resolve.ts';
import { silentLogger } from '../../agent/log.ts';
import { startImdsServer } from '../fixtures/imds-server.ts';

const ID = 'i-0123456789abcdef0';
const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const tagsXml = (tags: Record<string, string>) => `<?xml version="1.0" encoding="UTF-8"?>
<DescribeTagsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><tagSet>${Object.entries(tags).map(([k, v]) =>
  `<item><resourceId>${ID}</resourceId><resourceType>instance</resourceType><key>${xml(k)}</key><value>${xml(v)}</value></item>`).join('')}</tagSet></DescribeTagsResponse>`;

type Answer = { status: number; body: string };
let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
  vi.unstubAllEnvs();
});

async function fakeEc2(...answers: Answer[]) {
  const seen: Array<{ method: string; headers: Record<string, unknown>; form: URLSearchParams }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d; });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', headers: req.headers, form: new URLSearchParams(body) });
      const a = answers[Math.min(seen.length, answers.length) - 1] as Answer;
      res.writeHead(a.status, { 'content-type': 'text/xml' }).end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  close = () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const keys = () => Promise.resolve({ accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'ST' });

describe('readRoleTagViaApi without an SDK client', () => {
  it('sends DescribeTags as a signed form POST filtered on the instance and the key, and reads the value', async () => {
    const ec2 = await fakeEc2({ status: 200, body: tagsXml({ 'herd:role': 'web & api' }) });
    const value = await readRoleTagViaApi({ region: 'eu-west-1', instanceId: ID, tagKey: 'herd:role', log: silentLogger(), credentials: keys, env: { AWS_ENDPOINT_URL_EC2: ec2.url } });
    expect(value).toBe('web & api');
    const [req] = ec2.seen;
    expect(req?.method).toBe('POST');
    expect(Object.fromEntries(req?.form ?? [])).toEqual({
      Action: 'DescribeTags', Version: '2016-11-15',
      'Filter.1.Name': 'resource-id', 'Filter.1.Value.1': ID, 'Filter.2.Name': 'key', 'Filter.2.Value.1': 'herd:role',
    });
    expect(req?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AK\/\d{8}\/eu-west-1\/ec2\/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/);
    expect(req?.headers['x-amz-security-token']).toBe('ST');
  });

  it('is null when the instance has no such tag, and ignores other keys the wildcard filter let through', async () => {
    const ec2 = await fakeEc2({ status: 200, body: tagsXml({ 'herd:roles': 'x' }) });
    expect(await readRoleTagViaApi({ region: 'eu-west-1', instanceId: ID, tagKey: 'herd:role', log: silentLogger(), credentials: keys, env: { AWS_ENDPOINT_URL_EC2: ec2.url } })).toBeNull();
  });

  it('retries throttling and 5xx like the SDK (3 attempts)', async () => {
    const ec2 = await fakeEc2(
      { status: 503, body: '<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down</Message></Error></Errors></Response>' },
      { status: 500, body: '<Response><Errors><Error><Code>InternalError</Code><Message>oops</Message></Error></Errors></Response>' },
      { status: 200, body: tagsXml({ 'herd:role': 'web' }) },
    );
    expect(await readRoleTagViaApi({ region: 'eu-west-1', instanceId: ID, tagKey: 'herd:role', log: silentLogger(), credentials: keys, env: { AWS_ENDPOINT_URL_EC2: ec2.url } })).toBe('web');
    expect(ec2.seen).toHaveLength(3);
  });

  it('a refusal is an IdentityError that says what the instance profile needs, without retrying', async () => {
    const ec2 = await fakeEc2({ status: 403, body: '<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors></Response>' });
    const err = await readRoleTagViaApi({ region: 'eu-west-1', instanceId: ID, tagKey: 'herd:role', log: silentLogger(), credentials: keys, env: { AWS_ENDPOINT_URL_EC2: ec2.url } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdentityError);
    expect((err as Error).message).toBe(`DescribeTags for ${ID} failed (You are not authorized to perform this operation.); the instance profile needs ec2:DescribeTags, or turn on instance metadata tags`);
    expect(((err as Error).cause as Error).name).toBe('UnauthorizedOperation');
    expect(ec2.seen).toHaveLength(1);
  });

  it.each([
    ['the region\'s endpoint', 'us-east-1', {}, 'https://ec2.us-east-1.amazonaws.com/'],
    ['China', 'cn-northwest-1', {}, 'https://ec2.cn-northwest-1.amazonaws.com.cn/'],
    ['FIPS', 'us-gov-west-1', { AWS_USE_FIPS_ENDPOINT: 'true' }, 'https://ec2-fips.us-gov-west-1.amazonaws.com/'],
    ['dual-stack', 'eu-west-1', { AWS_USE_DUALSTACK_ENDPOINT: 'true' }, 'https://ec2.eu-west-1.api.aws/'],
    ['AWS_ENDPOINT_URL_EC2 before AWS_ENDPOINT_URL', 'eu-west-1', { AWS_ENDPOINT_URL: 'http://a:1', AWS_ENDPOINT_URL_EC2: 'http://b:2' }, 'http://b:2/'],
    ['configured endpoints ignored on request', 'eu-west-1', { AWS_ENDPOINT_URL: 'http://a:1', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }, 'https://ec2.eu-west-1.amazonaws.com/'],
  ])('goes to %s', (_name, region, env, url) => {
    expect(ec2Endpoint(region, env).href).toBe(url);
  });

  it('parses an empty tag set, and an empty value', () => {
    expect(parseTags('<DescribeTagsResponse><tagSet/></DescribeTagsResponse>')).toEqual([]);
    expect(parseTags(`<tagSet><item><resourceId>${ID}</resourceId><key>k</key><value/></item></tagSet>`)).toEqual([{ ResourceId: ID, Key: 'k', Value: '' }]);
  });
});

describe('resolveIdentity with metadata tags off', () => {
  it('reads the role tag with DescribeTags in the instance\'s region, credentials from the default chain (the environment)', async () => {
    const imds = await startImdsServer({ instanceId: ID, region: 'eu-west-1', az: 'eu-west-1c', tags: null });
    const ec2 = await fakeEc2({ status: 200, body: tagsXml({ 'herd:role': 'web' }) });
    vi.stubEnv('AWS_ENDPOINT_URL_EC2', ec2.url);
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKENV');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'SKENV');
    try {
      const identity = await resolveIdentity({ config: { provider: 'imds', roleTag: 'herd:role', endpoint: imds.url, timeoutMs: 2000 }, log: silentLogger() });
      expect(identity).toEqual({ instanceId: ID, role: 'web', az: 'eu-west-1c', region: 'eu-west-1', provider: 'imds' });
      expect(ec2.seen[0]?.headers.authorization).toContain('Credential=AKENV/');
      expect(ec2.seen[0]?.headers.authorization).toContain('/eu-west-1/ec2/aws4_request');
    } finally {
      await imds.close();
    }
  });
});
