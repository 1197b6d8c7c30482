// A bad flag value, with the built CLI: exit 2 and one sentence about the value as typed,
// naming the flag and what it takes; never the schema library's own words. Every row fails
// before the store is asked anything, so no S3 server is needed.
import { describe, expect, it } from 'vitest';
import { S3_ENV, cleanEnv, runHerd } from '../helpers/harness.ts';

const BUCKET = 'is not a bucket name: 3-63 characters, lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit';
const NAME = 'of A-Z a-z 0-9 . _ -, not starting with "."';
const roll = ['roll', '--bucket', 'fleet-bucket', '--role', 'web', '--release', 'v1'];

describe('flag errors name the flag and what it takes, exit 2', () => {
  it.each<[string, string[], string]>([
    ['bucket too short', ['roll', '--bucket', 'ab', '--role', 'web', '--release', 'x'], `--bucket "ab" ${BUCKET}`],
    ['bucket with capitals', ['status', '--bucket', 'My_Bucket', '--role', 'web'], `--bucket "My_Bucket" ${BUCKET}`],
    ['role with a path', ['roll', '--bucket', 'fleet-bucket', '--role', '../x', '--release', 'x'], `--role "../x" is not a role: 1-64 ${NAME}`],
    ['role of pause', ['pause', '--bucket', 'fleet-bucket', '--role', '.hidden'], `--role ".hidden" is not a role: 1-64 ${NAME}`],
    ['release', ['roll', '--bucket', 'fleet-bucket', '--role', 'web', '--release', 'a/b'], `--release "a/b" is not a release id: 1-128 ${NAME}`],
    ['percent too big', [...roll, '--percent', '150'], '--percent 150: takes a whole number from 0 to 100'],
    ['percent not a number', [...roll, '--percent', 'half'], '--percent half: takes a whole number from 0 to 100'],
    ['percent not whole', [...roll, '--percent', '2.5'], '--percent 2.5: takes a whole number from 0 to 100'],
    ['waves', [...roll, '--waves', '0'], '--waves 0: takes a whole number from 1 to 100'],
    ['wave-interval', [...roll, '--waves', '2', '--wave-interval', '-5'], '--wave-interval -5: takes a number of seconds, 0 or more'],
    ['endpoint without a scheme', [...roll, '--endpoint', 'localhost:4569'], '--endpoint "localhost:4569" is not an endpoint: an http:// or https:// URL, e.g. http://127.0.0.1:4569'],
    ['prefix', [...roll, '--prefix', 'a*'], '--prefix "a*" is not a key prefix: letters, digits, . _ - and /'],
    ['region', [...roll, '--region', ''], '--region "" is not a region: a name such as us-east-1'],
    ['stale-after', ['status', '--bucket', 'fleet-bucket', '--role', 'web', '--stale-after', '0'], '--stale-after 0: takes a number of seconds above 0'],
    ['log-level', [...roll, '--log-level', 'loud'], '--log-level "loud" is not a log level: fatal, error, warn, info, debug, trace or silent'],
    ['iam-policy replica bucket', ['iam-policy', '--bucket', 'fleet-bucket', '--role', 'web', '--replica-bucket', 'X'], `--replica-bucket "X" ${BUCKET}`],
    ['iam-policy which', ['iam-policy', '--bucket', 'fleet-bucket', '--role', 'web', '--which', 'admin'], '--which "admin" is not a policy choice: instance, publisher, both, image or all'],
  ])('%s', async (_what, args, sentence) => {
    const { code, stdout, stderr } = await runHerd(args);
    expect(stderr).toBe(`herd: ${sentence}\n`);
    expect(code).toBe(2);
    expect(stdout).toBe('');
  });

  it.each<[string, Record<string, string>, string]>([
    ['HERD_BUCKET', { HERD_BUCKET: 'ab' }, `HERD_BUCKET "ab" ${BUCKET}`],
    ['AWS_ENDPOINT_URL_S3', { HERD_BUCKET: 'fleet-bucket', AWS_ENDPOINT_URL_S3: 'nope' }, 'AWS_ENDPOINT_URL_S3 "nope" is not an endpoint: an http:// or https:// URL, e.g. http://127.0.0.1:4569'],
  ])('a bad %s is named as the variable, not as a flag', async (_what, env, sentence) => {
    const { code, stderr } = await runHerd(['roll', '--role', 'web', '--release', 'v1'], cleanEnv({ ...S3_ENV, ...env }));
    expect(stderr).toBe(`herd: ${sentence}\n`);
    expect(code).toBe(2);
  });
});
