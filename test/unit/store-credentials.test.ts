// Which credential provider answers for which environment, as the SDK's default chain would
// get there; and that the SDK's chain is loaded only when one of its middle links could answer.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../agent/log.ts';
import { chooseCredentials, defaultCredentials } from '../../agent/store/credentials.ts';
import { startImdsServer } from '../fixtures/imds-server.ts';

// The SDK's chain, replaced by one that records being loaded (once per file: the profile test comes last) and answers with its own keys.
const sdk = vi.hoisted(() => ({ loaded: 0, calls: 0 }));
vi.mock('@aws-sdk/credential-provider-node', () => {
  sdk.loaded++;
  return { defaultProvider: () => async () => { sdk.calls++; return { accessKeyId: 'AKSDKCHAIN', secretAccessKey: 'from-the-sdk' }; } };
});
afterEach(() => {
  sdk.calls = 0;
});

const KEYS = { AWS_ACCESS_KEY_ID: 'AKENV', AWS_SECRET_ACCESS_KEY: 'env-secret' };
const HOME = { HOME: '/home/herd' };

describe('chooseCredentials', () => {
  const none = () => false;
  const choose = (env: Record<string, string>, files: string[] = []) =>
    chooseCredentials({ env, exists: (path) => files.includes(path), osHomeDir: '/os/home' });

  it.each<[string, Record<string, string>, string[], object]>([
    ['both keys: the environment', KEYS, [], { provider: 'environment', credentials: { accessKeyId: 'AKENV', secretAccessKey: 'env-secret' } }],
    ['both keys and a session token', { ...KEYS, AWS_SESSION_TOKEN: 'tok', AWS_CREDENTIAL_EXPIRATION: '2030-01-01T00:00:00Z' }, [],
      { provider: 'environment', credentials: { accessKeyId: 'AKENV', secretAccessKey: 'env-secret', sessionToken: 'tok' } }],
    ['keys win over shared files, as in the chain', { ...KEYS, ...HOME }, ['/home/herd/.aws/config'], { provider: 'environment' }],
    ['AWS_PROFILE: the SDK skips the environment, keys or not', { ...KEYS, AWS_PROFILE: 'ops' }, [], { provider: 'sdk-chain', because: 'AWS_PROFILE is set' }],
    ['one key alone is not credentials', { AWS_ACCESS_KEY_ID: 'AKENV' }, [], { provider: 'instance-profile', metadataEndpoint: 'http://169.254.169.254' }],
    ['nothing at all: the instance profile', {}, [], { provider: 'instance-profile', metadataEndpoint: 'http://169.254.169.254' }],
    ['AWS_CONFIG_FILE', { AWS_CONFIG_FILE: '/etc/aws' }, [], { provider: 'sdk-chain', because: 'AWS_CONFIG_FILE is set' }],
    ['AWS_SHARED_CREDENTIALS_FILE', { AWS_SHARED_CREDENTIALS_FILE: '/etc/c' }, [], { provider: 'sdk-chain', because: 'AWS_SHARED_CREDENTIALS_FILE is set' }],
    ['web identity', { AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/token', AWS_ROLE_ARN: 'arn:aws:iam::1:role/r' }, [],
      { provider: 'sdk-chain', because: 'AWS_WEB_IDENTITY_TOKEN_FILE is set' }],
    ['ECS, relative URI', { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/creds' }, [], { provider: 'sdk-chain', because: 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is set' }],
    ['container, full URI', { AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1/c' }, [], { provider: 'sdk-chain', because: 'AWS_CONTAINER_CREDENTIALS_FULL_URI is set' }],
    ['metadata service disabled', { AWS_EC2_METADATA_DISABLED: 'true' }, [], { provider: 'sdk-chain', because: 'AWS_EC2_METADATA_DISABLED is set' }],
    ['AWS_EC2_METADATA_DISABLED=false is not disabled', { AWS_EC2_METADATA_DISABLED: 'false' }, [], { provider: 'instance-profile' }],
    ['~/.aws/config in HOME', HOME, ['/home/herd/.aws/config'], { provider: 'sdk-chain', because: '/home/herd/.aws/config exists' }],
    ['~/.aws/credentials in HOME', HOME, ['/home/herd/.aws/credentials'], { provider: 'sdk-chain', because: '/home/herd/.aws/credentials exists' }],
    ['a file in another home is not ours', HOME, ['/os/home/.aws/config'], { provider: 'instance-profile' }],
    ['no HOME: USERPROFILE, as the SDK looks', { USERPROFILE: '/u' }, ['/u/.aws/config'], { provider: 'sdk-chain' }],
    ['no HOME variables: the OS home', {}, ['/os/home/.aws/credentials'], { provider: 'sdk-chain', because: '/os/home/.aws/credentials exists' }],
    ['AWS_EC2_METADATA_SERVICE_ENDPOINT', { AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:1338' }, [],
      { provider: 'instance-profile', metadataEndpoint: 'http://127.0.0.1:1338' }],
    ['endpoint mode IPv6', { AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: 'IPv6' }, [], { provider: 'instance-profile', metadataEndpoint: 'http://[fd00:ec2::254]' }],
    ['an endpoint mode the SDK does not know: it says so', { AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: 'ipv7' }, [], { provider: 'sdk-chain' }],
  ])('%s', (_name, env, files, expected) => {
    expect(choose(env, files)).toMatchObject(expected);
  });

  it('reads no file when the environment decides', () => {
    const exists = vi.fn(none);
    chooseCredentials({ env: KEYS, exists, osHomeDir: '/os/home' });
    expect(exists).not.toHaveBeenCalled();
  });
});

describe('defaultCredentials', () => {
  it('keys in the environment: used as they are, without loading the SDK chain', async () => {
    const credentials = defaultCredentials({ region: 'eu-west-1', log: silentLogger(), env: { ...KEYS, AWS_SESSION_TOKEN: 'tok', HOME: '/nonexistent' } });
    expect(await credentials()).toEqual({ accessKeyId: 'AKENV', secretAccessKey: 'env-secret', sessionToken: 'tok' });
    expect(sdk.loaded).toBe(0);
  });

  it('nothing but the instance profile: read from the metadata service, without loading the SDK chain', async () => {
    const imds = await startImdsServer({
      instanceId: 'i-1', region: 'eu-west-1', az: 'eu-west-1a', tags: null, credentials: { accessKeyId: 'AKPROFILE', secretAccessKey: 'profile-secret', sessionToken: 'st' },
    });
    try {
      const credentials = defaultCredentials({ region: 'eu-west-1', log: silentLogger(), env: { HOME: '/nonexistent', AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url } });
      expect(await credentials()).toEqual({ accessKeyId: 'AKPROFILE', secretAccessKey: 'profile-secret', sessionToken: 'st' });
      expect(sdk.loaded).toBe(0);
    } finally {
      await imds.close();
    }
  });

  it('a profile: the SDK chain, loaded on the first request and not before', async () => {
    const credentials = defaultCredentials({ region: 'eu-west-1', log: silentLogger(), env: { ...KEYS, AWS_PROFILE: 'ops', HOME: '/nonexistent' } });
    expect(sdk.loaded).toBe(0);
    expect(await credentials()).toEqual({ accessKeyId: 'AKSDKCHAIN', secretAccessKey: 'from-the-sdk' });
    await credentials();
    expect([sdk.loaded, sdk.calls]).toEqual([1, 2]);
  });
});
