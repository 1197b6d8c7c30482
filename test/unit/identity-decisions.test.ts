// The pure parts of identity as tables: retry policy, where the role comes from, and
// which values are accepted.
import { describe, expect, it } from 'vitest';
import { ConfigError, IdentityError } from '../../agent/errors.ts';
import { describeImdsFailure, nextImdsStep, statusOf, type ImdsRetryInput } from '../../agent/identity/imds-retry.ts';
import {
  chooseRoleSource,
  isMetadataTagKey,
  metadataTagPath,
  validateIdentity,
  validateLocation,
  validateRole,
} from '../../agent/identity/role-source.ts';

describe('nextImdsStep', () => {
  const base = { transientFailures: 0, reauthenticated: false, retries: 2, retryDelayMs: 100 };
  const cases: Array<[string, Partial<ImdsRetryInput> & Pick<ImdsRetryInput, 'failure'>, ReturnType<typeof nextImdsStep>]> = [
    ['401 on a GET: one fresh token', { failure: { stage: 'get', status: 401 } }, { action: 'retry', delayMs: 0, freshToken: true }],
    ['401 again after a fresh token: fail', { failure: { stage: 'get', status: 401 }, reauthenticated: true }, { action: 'fail' }],
    ['401 on the token PUT: fail', { failure: { stage: 'token', status: 401 } }, { action: 'fail' }],
    ['404: an answer, not a fault', { failure: { stage: 'get', status: 404 } }, { action: 'fail' }],
    ['400 on the token PUT: fail', { failure: { stage: 'token', status: 400 } }, { action: 'fail' }],
    ['403 on the token PUT: fail', { failure: { stage: 'token', status: 403 } }, { action: 'fail' }],
    ['405 on the token PUT: fail', { failure: { stage: 'token', status: 405 } }, { action: 'fail' }],
    ['no answer, first time', { failure: { stage: 'token', status: null } }, { action: 'retry', delayMs: 100, freshToken: false }],
    ['no answer, second time: delay doubles', { failure: { stage: 'get', status: null }, transientFailures: 1 }, { action: 'retry', delayMs: 200, freshToken: false }],
    ['no answer, retries used up', { failure: { stage: 'get', status: null }, transientFailures: 2 }, { action: 'fail' }],
    ['500: retry', { failure: { stage: 'get', status: 500 } }, { action: 'retry', delayMs: 100, freshToken: false }],
    ['503 with retries 0: fail', { failure: { stage: 'get', status: 503 }, retries: 0 }, { action: 'fail' }],
    ['429: retry', { failure: { stage: 'token', status: 429 } }, { action: 'retry', delayMs: 100, freshToken: false }],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(nextImdsStep({ ...base, ...input })).toEqual(expected);
  });
});

describe('statusOf', () => {
  it.each([
    ['GET error with $metadata', Object.assign(new Error('Request failed'), { $metadata: { httpStatusCode: 404 } }), 404],
    ['error with statusCode', Object.assign(new Error('x'), { statusCode: 401 }), 401],
    ['token PUT error (status only in the message)', new Error('Error fetching metadata token: Error: Failed to fetch metadata token with status code 403. [disableFetchToken] is now set to true.'), 403],
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), null],
    ['not an object', 'boom', null],
  ])('%s', (_name, err, expected) => {
    expect(statusOf(err)).toBe(expected);
  });
});

describe('describeImdsFailure', () => {
  it.each([
    [{ stage: 'token', status: null }, 'did not answer'],
    [{ stage: 'token', status: 403 }, 'refused a token (403'],
    [{ stage: 'token', status: 405 }, 'no IMDSv2 token endpoint (405)'],
    [{ stage: 'get', status: 401 }, 'rejected the session token twice'],
    [{ stage: 'get', status: 500 }, 'answered 500'],
  ] as const)('%j', (failure, fragment) => {
    expect(describeImdsFailure(failure, 'http://169.254.169.254')).toContain(fragment);
  });
});

describe('chooseRoleSource', () => {
  it.each([
    ['the tag has a value', { value: 'web', listing: null }, { use: 'value', value: 'web' }],
    ['an empty value is still a value (validation refuses it)', { value: '', listing: null }, { use: 'value', value: '' }],
    ['404 on the key and on the listing: tags off', { value: null, listing: null }, { use: 'describe-tags', reason: 'tags-off' }],
    ['404 on the key, listing without it: no such tag', { value: null, listing: 'Name\nteam' }, { use: 'none' }],
    ['404 on the key, empty listing: no such tag', { value: null, listing: '' }, { use: 'none' }],
    ['key metadata cannot hold', null, { use: 'describe-tags', reason: 'key-not-exposable' }],
  ] as const)('%s', (_name, answers, expected) => {
    expect(chooseRoleSource(answers)).toEqual(expected);
  });
});

describe('isMetadataTagKey', () => {
  it.each([
    ['herd:role', true],
    ['Name', true],
    ['a+b-c=d.e,f_g:h@i', true],
    ['with space', false],
    ['a/b', false],
    ['.', false],
    ['..', false],
    ['_index', false],
    ['', false],
    ['x'.repeat(129), false],
  ])('%j -> %s', (key, expected) => {
    expect(isMetadataTagKey(key)).toBe(expected);
  });
});

describe('metadataTagPath', () => {
  it.each([
    ['herd:role', 'meta-data/tags/instance/herd:role'],
    ['a@b+c=d,e', 'meta-data/tags/instance/a@b+c=d,e'],
    ['a/../b', 'meta-data/tags/instance/a%2F..%2Fb'],
    ['x?y#z', 'meta-data/tags/instance/x%3Fy%23z'],
  ])('%j -> %s', (key, expected) => {
    expect(metadataTagPath(key)).toBe(expected);
  });
});

describe('validateRole', () => {
  it.each(['web', 'api-v2', 'a.b_c'])('accepts %j', (value) => {
    expect(validateRole(value, 'i-1', 'herd:role')).toBe(value);
  });
  it.each(['../x', '', '.hidden', 'a/b', 'web\n', 'x'.repeat(65), 'ünï'])('refuses %j', (value) => {
    expect(() => validateRole(value, 'i-1', 'herd:role')).toThrow(IdentityError);
    expect(() => validateRole(value, 'i-1', 'herd:role')).toThrow(/instance i-1 tag 'herd:role' value/);
  });
});

describe('validateIdentity', () => {
  const good = { instanceId: 'i-0abc', role: 'web', az: 'eu-west-1a', region: 'eu-west-1', provider: 'imds' } as const;
  it('returns a valid identity unchanged', () => {
    expect(validateIdentity(good, 'here')).toEqual(good);
  });
  it.each([
    ['instanceId', '../../etc'],
    ['az', ''],
    ['region', 'eu west'],
    ['role', '..'],
  ] as const)('refuses a bad %s, naming the field', (field, value) => {
    expect(() => validateIdentity({ ...good, [field]: value }, 'here')).toThrow(new RegExp(`here: ${field}:`));
  });
  it('throws the error kind the caller asks for', () => {
    expect(() => validateIdentity({ ...good, role: '' }, 'cfg', (m) => new ConfigError(m))).toThrow(ConfigError);
  });
});

describe('validateLocation', () => {
  it('accepts what EC2 metadata answers', () => {
    const loc = { instanceId: 'i-0123456789abcdef0', az: 'us-east-1a', region: 'us-east-1' };
    expect(validateLocation(loc, 'instance metadata')).toEqual(loc);
  });
  it('refuses an instance id that would escape a path', () => {
    expect(() => validateLocation({ instanceId: '../i', az: 'a', region: 'r' }, 'instance metadata'))
      .toThrow(/instance metadata: instanceId:/);
  });
});
