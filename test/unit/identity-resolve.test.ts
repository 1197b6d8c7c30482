// resolveIdentity end to end: the fake IMDSv2 server over HTTP for metadata, and
// aws-sdk-client-mock for the EC2 DescribeTags fallback through an injected SDK client (the
// agent's own DescribeTags request, used without one, is tested in identity-describe-tags).
import { DescribeTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, IdentityError } from '../../agent/errors.ts';
import { resolveIdentity } from '../../agent/identity/resolve.ts';
import type { IdentityConfig } from '../../agent/identity/types.ts';
import { createLogger, type Logger } from '../../agent/log.ts';
import { startImdsServer, type ImdsServer, type ImdsServerOptions } from '../fixtures/imds-server.ts';

const ID = 'i-0123456789abcdef0';
const ec2Mock = mockClient(EC2Client);
let server: ImdsServer | undefined;
let lines: Array<Record<string, unknown>>;
let log: Logger;

beforeEach(() => {
  ec2Mock.reset();
  lines = [];
  log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
});
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(tags: ImdsServerOptions['tags']): Promise<IdentityConfig> {
  server = await startImdsServer({ instanceId: ID, region: 'eu-west-1', az: 'eu-west-1c', tags });
  return { provider: 'imds', roleTag: 'herd:role', endpoint: server.url };
}

/** Every EC2Client is mocked: DescribeTags goes through one (`makeEc2`), as callers may inject. */
const viaSdk = { makeEc2: (region: string) => new EC2Client({ region }) };

function resolvedLine(): Record<string, unknown> | undefined {
  return lines.find((l) => l.msg === 'identity resolved');
}

describe('resolveIdentity with imds', () => {
  it('reads id, region, AZ and the role tag from metadata with one token', async () => {
    const config = await serve({ 'herd:role': 'web', Name: 'web-1' });
    const identity = await resolveIdentity({ config, log, ...viaSdk });
    expect(identity).toEqual({ instanceId: ID, role: 'web', az: 'eu-west-1c', region: 'eu-west-1', provider: 'imds' });
    expect(server!.tokensIssued()).toBe(1);
    expect(server!.requests.filter((r) => r.method !== 'PUT').every((r) => r.hadToken)).toBe(true);
    expect(server!.requests.map((r) => r.path)).toContain('/latest/meta-data/tags/instance/herd:role');
    expect(resolvedLine()).toMatchObject({ module: 'identity', roleSource: 'metadata-tags', role: 'web', instanceId: ID });
    expect(ec2Mock.commandCalls(DescribeTagsCommand)).toHaveLength(0);
  });

  it('uses a configured tag key', async () => {
    const config = await serve({ 'herd:role': 'web', 'team@app': 'api' });
    const identity = await resolveIdentity({ config: { ...config, roleTag: 'team@app' } as IdentityConfig, log, ...viaSdk });
    expect(identity.role).toBe('api');
  });

  it('falls back to DescribeTags when metadata tags are off', async () => {
    const config = await serve(null);
    ec2Mock.on(DescribeTagsCommand).resolves({
      Tags: [{ Key: 'herd:role', Value: 'api', ResourceId: ID, ResourceType: 'instance' }],
    });
    const regions: string[] = [];
    const identity = await resolveIdentity({
      config, log, makeEc2: (region) => (regions.push(region), new EC2Client({ region })),
    });
    expect(identity.role).toBe('api');
    expect(regions).toEqual(['eu-west-1']);
    const calls = ec2Mock.commandCalls(DescribeTagsCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input.Filters).toEqual([
      { Name: 'resource-id', Values: [ID] },
      { Name: 'key', Values: ['herd:role'] },
    ]);
    expect(lines.find((l) => l.reason === 'tags-off')).toMatchObject({ module: 'identity', tagKey: 'herd:role' });
    expect(resolvedLine()).toMatchObject({ roleSource: 'describe-tags', role: 'api' });
  });

  it('with the default EC2 client factory too', async () => {
    const config = await serve(null);
    ec2Mock.on(DescribeTagsCommand).resolves({ Tags: [{ Key: 'herd:role', Value: 'worker', ResourceId: ID }] });
    expect((await resolveIdentity({ config, log, ...viaSdk })).role).toBe('worker');
  });

  it('ignores DescribeTags matches for another key (the key filter takes wildcards)', async () => {
    const config = await serve(null);
    ec2Mock.on(DescribeTagsCommand).resolves({ Tags: [{ Key: 'herd:roleX', Value: 'api', ResourceId: ID }] });
    await expect(resolveIdentity({ config, log, ...viaSdk })).rejects.toThrow(`instance ${ID} has no tag 'herd:role'`);
  });

  it('tags off and DescribeTags finds no tag: IdentityError naming the key', async () => {
    const config = await serve(null);
    ec2Mock.on(DescribeTagsCommand).resolves({ Tags: [] });
    const err = await resolveIdentity({ config, log, ...viaSdk }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdentityError);
    expect((err as Error).message).toBe(`instance ${ID} has no tag 'herd:role'`);
  });

  it('tags off and DescribeTags denied: IdentityError that says what permission is needed', async () => {
    const config = await serve(null);
    ec2Mock.on(DescribeTagsCommand).rejects(Object.assign(new Error('not authorized to perform: ec2:DescribeTags'), { name: 'UnauthorizedOperation' }));
    const err = await resolveIdentity({ config, log, ...viaSdk }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdentityError);
    expect((err as Error).message).toMatch(/DescribeTags for i-0123456789abcdef0 failed .*not authorized.*ec2:DescribeTags/);
  });

  it('tags on but no such key: IdentityError naming the key, and no DescribeTags', async () => {
    const config = await serve({ Name: 'web-1' });
    const err = await resolveIdentity({ config, log, ...viaSdk }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdentityError);
    expect((err as Error).message).toBe(`instance ${ID} has no tag 'herd:role'`);
    expect(ec2Mock.commandCalls(DescribeTagsCommand)).toHaveLength(0);
  });

  it('refuses a hostile role tag value', async () => {
    const config = await serve({ 'herd:role': '../x' });
    const err = await resolveIdentity({ config, log, ...viaSdk }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdentityError);
    expect((err as Error).message).toContain(`instance ${ID} tag 'herd:role' value "../x"`);
    expect(resolvedLine()).toBeUndefined();
  });

  it('refuses a hostile value from DescribeTags too', async () => {
    const config = await serve(null);
    ec2Mock.on(DescribeTagsCommand).resolves({ Tags: [{ Key: 'herd:role', Value: 'a/../../b', ResourceId: ID }] });
    await expect(resolveIdentity({ config, log, ...viaSdk })).rejects.toThrow(IdentityError);
  });

  it('goes straight to DescribeTags for a key instance metadata cannot hold', async () => {
    const config = await serve({ 'herd:role': 'web' });
    ec2Mock.on(DescribeTagsCommand).resolves({ Tags: [{ Key: 'herd role', Value: 'batch', ResourceId: ID }] });
    const identity = await resolveIdentity({ config: { ...config, roleTag: 'herd role' } as IdentityConfig, log, ...viaSdk });
    expect(identity.role).toBe('batch');
    expect(server!.requests.some((r) => r.path.includes('/tags/'))).toBe(false);
  });

  it('fails fast with IdentityError when the metadata endpoint is down', async () => {
    const config = await serve({ 'herd:role': 'web' });
    await server!.close();
    server = undefined;
    const err = await resolveIdentity({ config: { ...config, timeoutMs: 500 } as IdentityConfig, log, ...viaSdk }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdentityError);
    expect((err as Error).message).toMatch(/GET meta-data\/instance-id: metadata service at http:\/\/127\.0\.0\.1:\d+ did not answer/);
  }, 10_000);
});

describe('resolveIdentity with static', () => {
  it('returns the configured identity without touching the network', async () => {
    const config: IdentityConfig = { provider: 'static', instanceId: 'laptop-1', role: 'web', az: 'local-a', region: 'local' };
    expect(await resolveIdentity({ config, log, ...viaSdk })).toEqual({
      instanceId: 'laptop-1', role: 'web', az: 'local-a', region: 'local', provider: 'static',
    });
    expect(resolvedLine()).toMatchObject({ module: 'identity', roleSource: 'static', provider: 'static' });
  });

  it('refuses an unsafe static role as a config error', async () => {
    const config: IdentityConfig = { provider: 'static', instanceId: 'laptop-1', role: '../etc', az: 'a', region: 'r' };
    const err = await resolveIdentity({ config, log, ...viaSdk }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/^identity \(static\): role:/);
  });
});
