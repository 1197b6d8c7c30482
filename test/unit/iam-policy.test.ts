// herd iam-policy: what each policy lets an instance and a publisher do, checked against
// the keys the store layout really uses, and what bad flags get.
import { describe, expect, it } from 'vitest';
import { iamPolicies, imagePolicy, instancePolicy, publisherPolicy, type PolicyDocument } from '../../agent/commands/iam-policy.ts';
import { UsageError } from '../../agent/errors.ts';
import { layoutFor } from '../../agent/store/layout.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** IAM's resource matching: '*' any run of characters (slashes too), '?' one character. */
function matches(pattern: string, arn: string): boolean {
  const re = new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/]/g, '\\$&'))).join('')}$`);
  return re.test(arn);
}

/** Whether any statement allows `action` on `key` of `bucket`, ignoring conditions. */
function allows(policy: PolicyDocument, action: string, bucket: string, key: string): boolean {
  const arn = `arn:aws:s3:::${bucket}/${key}`;
  return policy.Statement.some((s) => s.Action.includes(action) && s.Resource.some((r) => matches(r, arn)));
}

function statement(policy: PolicyDocument, sid: string) {
  const found = policy.Statement.find((s) => s.Sid === sid);
  if (!found) throw new Error(`no statement ${sid}`);
  return found;
}

describe('the instance policy', () => {
  const policy = instancePolicy({ bucket: 'fleet-bucket', role: 'web' });
  const layout = layoutFor('herd');

  it('reads its role\'s channel and its signature, manifests and every blob', () => {
    for (const key of [layout.channel('web'), layout.channelSignature('web'), layout.manifest('web', 'v42'), layout.blob(DIGEST)]) {
      expect(allows(policy, 's3:GetObject', 'fleet-bucket', key), key).toBe(true);
    }
  });

  it('reads nothing of another role, and nothing in another bucket', () => {
    expect(allows(policy, 's3:GetObject', 'fleet-bucket', layout.channel('api'))).toBe(false);
    expect(allows(policy, 's3:GetObject', 'fleet-bucket', layout.channelSignature('api'))).toBe(false);
    expect(allows(policy, 's3:GetObject', 'fleet-bucket', layout.manifest('api', 'v1'))).toBe(false);
    expect(allows(policy, 's3:GetObject', 'other-bucket', layout.channel('web'))).toBe(false);
  });

  it('writes reports of its role and nothing else', () => {
    expect(allows(policy, 's3:PutObject', 'fleet-bucket', layout.report('web', 'i-0abc'))).toBe(true);
    const forbidden = [
      layout.channel('web'), layout.channelSignature('web'), layout.manifest('web', 'v42'), layout.blob(DIGEST),
      layout.report('api', 'i-0abc'), `${layout.reportsPrefix('web')}i-0abc.txt`,
    ];
    for (const key of forbidden) expect(allows(policy, 's3:PutObject', 'fleet-bucket', key), key).toBe(false);
    const actions = policy.Statement.flatMap((s) => s.Action);
    expect([...new Set(actions.filter((a) => a.startsWith('s3:')))].sort()).toEqual(['s3:GetObject', 's3:ListBucket', 's3:PutObject']);
  });

  it('lists only what it may read, so a missing object answers 404 rather than 403', () => {
    expect(statement(policy, 'MissingObjectsAnswer404Not403')).toEqual({
      Sid: 'MissingObjectsAnswer404Not403', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: ['arn:aws:s3:::fleet-bucket'],
      Condition: { StringLike: { 's3:prefix': ['herd/roles/web/channel.json', 'herd/roles/web/channel.json.sig', 'herd/roles/web/releases/*', 'herd/blobs/sha256/*', 'herd/agent/sha256/*', 'herd/roles/web/failures/*'] } },
    });
  });

  it('writes, lists and reads failure markers of its own role only', () => {
    const marker = layout.failure('web', 'v2', 'i-0abc');
    expect(allows(policy, 's3:PutObject', 'fleet-bucket', marker)).toBe(true);
    expect(allows(policy, 's3:GetObject', 'fleet-bucket', marker)).toBe(true);
    expect(allows(policy, 's3:PutObject', 'fleet-bucket', layout.failure('api', 'v2', 'i-0abc'))).toBe(false);
  });

  it('reads the herd executables the user-data fetches, and not the pointer publish-agent rewrites', () => {
    expect(allows(policy, 's3:GetObject', 'fleet-bucket', layout.agentExecutable(DIGEST))).toBe(true);
    expect(statement(policy, 'ReadAgentExecutable').Resource).toEqual(['arn:aws:s3:::fleet-bucket/herd/agent/sha256/*']);
    expect(allows(policy, 's3:GetObject', 'fleet-bucket', layout.agentPointer())).toBe(false);
    expect(allows(policy, 's3:PutObject', 'fleet-bucket', layout.agentExecutable(DIGEST))).toBe(false);
  });

  it('carries ec2:DescribeTags on "*" as an optional last statement, left out on request', () => {
    expect(policy.Statement.at(-1)).toEqual({
      Sid: 'OptionalDescribeTagsWhenMetadataTagsAreOff', Effect: 'Allow', Action: ['ec2:DescribeTags'], Resource: ['*'],
    });
    const without = instancePolicy({ bucket: 'fleet-bucket', role: 'web', describeTags: false });
    expect(without.Statement.flatMap((s) => s.Action)).not.toContain('ec2:DescribeTags');
  });

  it('grants no Auto Scaling action unless asked; with a group, exactly the four lifecycle-hook actions the agent calls', () => {
    expect(policy.Statement.flatMap((s) => s.Action).filter((a) => a.startsWith('autoscaling:'))).toEqual([]);
    const hooks = instancePolicy({ bucket: 'fleet-bucket', role: 'web', autoScalingGroup: 'web-asg' });
    const asg = hooks.Statement.filter((s) => s.Action.some((a) => a.startsWith('autoscaling:')));
    expect(asg).toEqual([
      {
        Sid: 'CompleteItsLifecycleHooks', Effect: 'Allow', Action: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
        Resource: ['arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/web-asg'],
      },
      { Sid: 'FindItsGroupAndHookTimeout', Effect: 'Allow', Action: ['autoscaling:DescribeAutoScalingInstances', 'autoscaling:DescribeLifecycleHooks'], Resource: ['*'] },
    ]);
    expect(() => instancePolicy({ bucket: 'fleet-bucket', role: 'web', autoScalingGroup: 'a:b' })).toThrow(/--auto-scaling-group "a:b" is not an Auto Scaling group name/);
  });
});

describe('the publisher policy', () => {
  const policy = publisherPolicy({ bucket: 'fleet-bucket', role: 'web' });
  const layout = layoutFor('herd');

  it('uploads blobs (multipart too), adds manifests, rewrites the channel and its signature, reads reports', () => {
    expect(allows(policy, 's3:PutObject', 'fleet-bucket', layout.blob(DIGEST))).toBe(true);
    expect(allows(policy, 's3:AbortMultipartUpload', 'fleet-bucket', layout.blob(DIGEST))).toBe(true);
    expect(allows(policy, 's3:PutObject', 'fleet-bucket', layout.manifest('web', 'v42'))).toBe(true);
    expect(allows(policy, 's3:PutObject', 'fleet-bucket', layout.channel('web'))).toBe(true);
    expect(allows(policy, 's3:PutObject', 'fleet-bucket', layout.channelSignature('web'))).toBe(true);
    expect(allows(policy, 's3:GetObject', 'fleet-bucket', layout.channelSignature('web'))).toBe(true);
    expect(allows(policy, 's3:GetObject', 'fleet-bucket', layout.report('web', 'i-0abc'))).toBe(true);
    expect(allows(policy, 's3:GetObject', 'fleet-bucket', layout.blob(DIGEST))).toBe(true);
  });

  it('never deletes, never writes reports or another role\'s objects', () => {
    const actions = policy.Statement.flatMap((s) => s.Action);
    expect(actions).not.toContain('s3:DeleteObject');
    expect(actions.some((a) => a.includes('*'))).toBe(false);
    expect(allows(policy, 's3:PutObject', 'fleet-bucket', layout.report('web', 'i-0abc'))).toBe(false);
    expect(allows(policy, 's3:PutObject', 'fleet-bucket', layout.channel('api'))).toBe(false);
    expect(allows(policy, 's3:PutObject', 'fleet-bucket', layout.channelSignature('api'))).toBe(false);
    expect(allows(policy, 's3:GetObject', 'fleet-bucket', layout.channel('api'))).toBe(false);
  });

  it('may write a manifest only with If-None-Match, so a published release cannot be rewritten', () => {
    expect(statement(policy, 'AddManifestsNeverOverwrite').Condition).toEqual({ Null: { 's3:if-none-match': 'false' } });
    const unconditional = policy.Statement.filter((s) => !s.Condition && s.Action.includes('s3:PutObject'));
    for (const s of unconditional) expect(s.Resource.some((r) => matches(r, `arn:aws:s3:::fleet-bucket/${layout.manifest('web', 'v1')}`))).toBe(false);
  });

  it('lists the role\'s tree and the blobs (status reads the reports)', () => {
    expect(statement(policy, 'ListRoleAndBlobs').Condition).toEqual({ StringLike: { 's3:prefix': ['herd/roles/web/*', 'herd/blobs/sha256/*'] } });
  });
});

describe('the image policy', () => {
  const policy = imagePolicy({ bucket: 'fleet-bucket' });
  const layout = layoutFor('herd');

  it('uploads executables (multipart too), rewrites the pointer, reads both', () => {
    for (const action of ['s3:PutObject', 's3:AbortMultipartUpload', 's3:GetObject']) {
      expect(allows(policy, action, 'fleet-bucket', layout.agentExecutable(DIGEST)), action).toBe(true);
    }
    expect(allows(policy, 's3:PutObject', 'fleet-bucket', layout.agentPointer())).toBe(true);
    expect(allows(policy, 's3:GetObject', 'fleet-bucket', layout.agentPointer())).toBe(true);
  });

  it('touches nothing of any role, and deletes nothing', () => {
    for (const key of [layout.channel('web'), layout.manifest('web', 'v1'), layout.blob(DIGEST), layout.report('web', 'i-1')]) {
      expect(allows(policy, 's3:PutObject', 'fleet-bucket', key), key).toBe(false);
      expect(allows(policy, 's3:GetObject', 'fleet-bucket', key), key).toBe(false);
    }
    expect(policy.Statement.flatMap((s) => s.Action)).not.toContain('s3:DeleteObject');
  });

  it('is not in the publisher policy: a role\'s publisher cannot change what runs as root', () => {
    const publisher = publisherPolicy({ bucket: 'fleet-bucket', role: '*' });
    expect(allows(publisher, 's3:PutObject', 'fleet-bucket', layout.agentExecutable(DIGEST))).toBe(false);
    expect(allows(publisher, 's3:PutObject', 'fleet-bucket', layout.agentPointer())).toBe(false);
  });
});

describe('bucket, prefix, role, replicas and partition', () => {
  it.each([
    ['herd', 'arn:aws:s3:::b-1/herd/roles/web/channel.json'],
    ['', 'arn:aws:s3:::b-1/roles/web/channel.json'],
    ['/team/herd/', 'arn:aws:s3:::b-1/team/herd/roles/web/channel.json'],
  ])('prefix %j puts the channel at %s', (prefix, arn) => {
    expect(instancePolicy({ bucket: 'b-1', prefix, role: 'web' }).Statement[0]?.Resource[0]).toBe(arn);
  });

  it('role "*" covers every role', () => {
    const policy = instancePolicy({ bucket: 'b-1', role: '*' });
    expect(allows(policy, 's3:GetObject', 'b-1', layoutFor('herd').channel('api'))).toBe(true);
    expect(allows(policy, 's3:PutObject', 'b-1', layoutFor('herd').report('web', 'i-1'))).toBe(true);
  });

  it('replica buckets get the same grants', () => {
    const policy = instancePolicy({ bucket: 'primary', role: 'web', replicaBuckets: ['replica-eu'] });
    expect(allows(policy, 's3:GetObject', 'replica-eu', layoutFor('herd').channel('web'))).toBe(true);
    expect(allows(policy, 's3:PutObject', 'replica-eu', layoutFor('herd').report('web', 'i-1'))).toBe(true);
    expect(statement(policy, 'MissingObjectsAnswer404Not403').Resource).toEqual(['arn:aws:s3:::primary', 'arn:aws:s3:::replica-eu']);
  });

  it('a directory bucket, first or replica, gets s3express:CreateSession in the instance and publisher policies', () => {
    const input = { bucket: 'fleet--use1-az4--x-s3', role: 'web', replicaBuckets: ['fleet-standard', 'eu--euw1-az1--x-s3'], partition: 'aws-cn' };
    for (const policy of [instancePolicy(input), publisherPolicy(input)]) {
      expect(statement(policy, 'SessionsOfDirectoryBuckets')).toEqual({
        Sid: 'SessionsOfDirectoryBuckets', Effect: 'Allow', Action: ['s3express:CreateSession'],
        Resource: ['arn:aws-cn:s3express:*:*:bucket/fleet--use1-az4--x-s3', 'arn:aws-cn:s3express:*:*:bucket/eu--euw1-az1--x-s3'],
      });
    }
    const standard = { bucket: 'fleet-standard', role: 'web', replicaBuckets: ['fleet--x-s3'] };
    for (const policy of [instancePolicy(standard), publisherPolicy(standard)]) {
      expect(policy.Statement.flatMap((s) => s.Action).filter((a) => a.startsWith('s3express:'))).toEqual([]);
    }
    expect(iamPolicies({ ...input, which: 'both' }).text).toContain('# s3express:CreateSession: on a directory bucket a session may read and write any object');
  });

  it('names the partition in every ARN', () => {
    const policy = publisherPolicy({ bucket: 'b-1', role: 'web', partition: 'aws-cn' });
    const resources = policy.Statement.flatMap((s) => s.Resource);
    expect(resources.every((r) => r.startsWith('arn:aws-cn:s3:::b-1'))).toBe(true);
  });

  it.each([
    [{ bucket: 'My_Bucket', role: 'web' }, '--bucket "My_Bucket" is not a bucket name: 3-63 characters'],
    [{ bucket: 'ab', role: 'web' }, '--bucket "ab" is not a bucket name'],
    [{ bucket: 'b-1', role: '../etc' }, '--role "../etc" is not a role'],
    [{ bucket: 'b-1', role: 'web*' }, '--role "web*" is not a role'],
    [{ bucket: 'b-1', role: 'web', prefix: 'herd/*' }, '--prefix "herd/*" is not a key prefix'],
    [{ bucket: 'b-1', role: 'web', prefix: '${aws:userid}' }, '--prefix "${aws:userid}" is not a key prefix'],
    [{ bucket: 'b-1', role: 'web', replicaBuckets: ['b-2', 'UPPER'] }, '--replica-bucket "UPPER" is not a bucket name'],
    [{ bucket: 'b-1', role: 'web', partition: 'aws-moon' }, '--partition "aws-moon" is not an ARN partition: aws, aws-cn or aws-us-gov'],
  ])('refuses %j naming the field', (input, message) => {
    expect(() => iamPolicies(input)).toThrow(UsageError);
    expect(() => iamPolicies(input)).toThrow(message);
  });
});

describe('what the command prints', () => {
  it('both policies under a heading each for people, {instance, publisher} for scripts', () => {
    const { text, data } = iamPolicies({ bucket: 'b-1', role: 'web' });
    expect(Object.keys(data)).toEqual(['instance', 'publisher']);
    expect(text).toMatch(/^# Instance policy: for the instance profile of role web\./);
    expect(text).toContain('\n# Publisher policy: ');
    // Each policy is printed as it is in the JSON, ready to paste.
    const blocks = text.split('\n\n').map((part) => part.split('\n').filter((l) => !l.startsWith('#')).join('\n'));
    expect(blocks.map((b) => JSON.parse(b))).toEqual([data.instance, data.publisher]);
  });

  it.each([['instance', ['instance']], ['publisher', ['publisher']], ['image', ['image']]])('--which %s prints only that one', (which, keys) => {
    const { text, data } = iamPolicies({ bucket: 'b-1', role: 'web', which });
    expect(Object.keys(data)).toEqual(keys);
    expect(text.match(/^# \w+ policy:/gm)).toHaveLength(1);
  });

  it('--which all adds the image policy; --which image needs no --role, the others do', () => {
    expect(Object.keys(iamPolicies({ bucket: 'b-1', role: 'web', which: 'all' }).data)).toEqual(['instance', 'publisher', 'image']);
    expect(iamPolicies({ bucket: 'b-1', which: 'image' }).data.image).toEqual(imagePolicy({ bucket: 'b-1' }));
    expect(() => iamPolicies({ bucket: 'b-1', which: 'instance' })).toThrow('--role is missing: it takes a role');
  });

  it('refuses an unknown --which', () => {
    expect(() => iamPolicies({ bucket: 'b-1', role: 'web', which: 'admin' })).toThrow('--which "admin" is not a policy choice: instance, publisher, both, image or all');
  });
});
