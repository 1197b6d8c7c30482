// herd iam-policy: the IAM policies an instance and a publisher need, built from the same
// object-store layout the agent and the CLI use, so a layout change shows up here. Pure.
//
// What IAM can and cannot express here (see README "Least privilege"):
// - No policy variable holds the bare instance id in an S3 request (`aws:userid` is
//   `ROLEID:i-...`, `ec2:SourceInstanceARN` the full ARN, `ec2:InstanceID` only exists on
//   EC2 actions), so an instance may write any report of its own role, and nothing else.
// - Without s3:ListBucket, S3 answers 403 instead of 404 for a missing key; herd tells
//   "not there yet" from "failed" by the 404, so both policies list the prefixes they read.
import * as z from '../zod.ts';
import { bucketSchema, sourceSchema } from '../config.ts';
import { parseFlag, parseFlags } from '../flags.ts';
import { layoutFor } from '../store/layout.ts';
import { directoryBucketZone } from '../store/s3-endpoint.ts';
import { roleSchema } from '../store/schemas.ts';

export type PolicyKind = 'instance' | 'publisher' | 'image';
/** both: instance and publisher (the two every role needs); all: the image policy too. */
export type PolicyChoice = PolicyKind | 'both' | 'all';
const CHOICES = ['instance', 'publisher', 'image', 'both', 'all'] as const;
export const PARTITIONS = ['aws', 'aws-cn', 'aws-us-gov'] as const;
export type Partition = (typeof PARTITIONS)[number];

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

export interface IamPolicyInput {
  bucket: string;
  /** Key prefix under the bucket; 'herd' when unset, '' for none. */
  prefix?: string;
  /** A role name, or '*' for every role. */
  role: string;
  /** Further buckets in the agents' `sources` (replicas); both policies cover them too. */
  replicaBuckets?: string[];
  partition?: string;
  /** Include ec2:DescribeTags for instances whose metadata tags are off (default true). */
  describeTags?: boolean;
  /** The Auto Scaling group (or '*') whose lifecycle hooks the instances complete; none when unset. */
  autoScalingGroup?: string;
}

// Not strict: iamPolicies() passes its own `which` along.
const inputSchema = z.object({
  bucket: bucketSchema,
  prefix: sourceSchema.shape.prefix,
  role: z.union([z.literal('*'), roleSchema]),
  replicaBuckets: z._default(z.array(bucketSchema), []),
  partition: z._default(z.enum(PARTITIONS, { error: `must be one of ${PARTITIONS.join(', ')}` }), 'aws'),
  describeTags: z._default(z.boolean(), true),
  autoScalingGroup: z.optional(z.union([z.literal('*'), z.string().check(z.regex(/^[^:*]{1,255}$/))])),
});
type Settings = z.infer<typeof inputSchema>;

/** The validated settings, or UsageError naming the bad flag. */
function settingsOf(input: Omit<IamPolicyInput, 'role'> & { role?: string }): Settings {
  return parseFlags(inputSchema, { ...input });
}

/** The keys (not ARNs) each policy names, taken from the store layout. */
function keysOf(s: Settings) {
  const layout = layoutFor(s.prefix);
  const blobs = layout.blob(`sha256:${'0'.repeat(64)}`).slice(0, -64);
  return {
    base: s.prefix ? `${s.prefix}/` : '',
    channel: layout.channel(s.role),
    channelSignature: layout.channelSignature(s.role),
    releases: `${layout.releasesPrefix(s.role)}*`,
    blobs: `${blobs}*`,
    reports: layout.report(s.role, '*'),
    failures: `${layout.failuresPrefix(s.role, '*').slice(0, -'*/'.length)}*`,
    roleTree: `${layout.channel(s.role).slice(0, -'channel.json'.length)}*`,
    agentExecutables: `${layout.agentExecutable(`sha256:${'0'.repeat(64)}`).slice(0, -64)}*`,
    agentPointer: layout.agentPointer(),
  };
}

function arns(s: Settings, keys: string[]): string[] {
  return [s.bucket, ...s.replicaBuckets].flatMap((b) => keys.map((k) => `arn:${s.partition}:s3:::${b}/${k}`));
}

function bucketArns(s: Settings): string[] {
  return [s.bucket, ...s.replicaBuckets].map((b) => `arn:${s.partition}:s3:::${b}`);
}

/**
 * Directory buckets (S3 Express One Zone) authorize object requests by session, not by the s3:
 * statements: whoever may create a session may read and write every object of the bucket.
 */
function directoryBucketStatements(s: Settings): PolicyStatement[] {
  const directory = [s.bucket, ...s.replicaBuckets].filter((b) => directoryBucketZone(b) !== undefined);
  if (directory.length === 0) return [];
  return [{
    Sid: 'SessionsOfDirectoryBuckets', Effect: 'Allow', Action: ['s3express:CreateSession'],
    Resource: directory.map((b) => `arn:${s.partition}:s3express:*:*:bucket/${b}`),
  }];
}

/**
 * An instance of the role: read its channel (and its signature), its manifests and the blobs; write reports
 * under its role's instances/ only. No write to channel, manifests or blobs; no delete.
 */
export function instancePolicy(input: IamPolicyInput): PolicyDocument {
  return instanceDocument(settingsOf(input));
}

function instanceDocument(s: Settings): PolicyDocument {
  const k = keysOf(s);
  const statements: PolicyStatement[] = [
    { Sid: 'ReadChannelManifestsAndBlobs', Effect: 'Allow', Action: ['s3:GetObject'], Resource: arns(s, [k.channel, k.channelSignature, k.releases, k.blobs]) },
    { Sid: 'WriteReportsOfItsRoleOnly', Effect: 'Allow', Action: ['s3:PutObject'], Resource: arns(s, [k.reports]) },
    // Failure markers: written when a release fails here, counted before applying one (a rollout that halts itself).
    { Sid: 'WriteAndReadFailureMarkersOfItsRole', Effect: 'Allow', Action: ['s3:PutObject', 's3:GetObject'], Resource: arns(s, [k.failures]) },
    // What the user-data of an image that was not baked fetches at first boot (herd user-data).
    { Sid: 'ReadAgentExecutable', Effect: 'Allow', Action: ['s3:GetObject'], Resource: arns(s, [k.agentExecutables]) },
    {
      Sid: 'MissingObjectsAnswer404Not403', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: bucketArns(s),
      Condition: { StringLike: { 's3:prefix': [k.channel, k.channelSignature, k.releases, k.blobs, k.agentExecutables, k.failures] } },
    },
    ...directoryBucketStatements(s),
  ];
  if (s.describeTags) {
    // DescribeTags has no resource-level permissions: "*" is the only Resource it takes.
    statements.push({ Sid: 'OptionalDescribeTagsWhenMetadataTagsAreOff', Effect: 'Allow', Action: ['ec2:DescribeTags'], Resource: ['*'] });
  }
  if (s.autoScalingGroup) statements.push(...lifecycleStatements(s, s.autoScalingGroup));
  return { Version: '2012-10-17', Statement: statements };
}

/**
 * The agent's autoScaling hooks: complete and heartbeat the hooks of its group (by group ARN),
 * and find its group and the hook's heartbeat timeout (Describe* take no resource-level
 * permissions, so "*"). Nothing else of Auto Scaling.
 */
function lifecycleStatements(s: Settings, group: string): PolicyStatement[] {
  return [
    {
      Sid: 'CompleteItsLifecycleHooks', Effect: 'Allow',
      Action: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
      Resource: [`arn:${s.partition}:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/${group}`],
    },
    {
      Sid: 'FindItsGroupAndHookTimeout', Effect: 'Allow',
      Action: ['autoscaling:DescribeAutoScalingInstances', 'autoscaling:DescribeLifecycleHooks'], Resource: ['*'],
    },
  ];
}

/**
 * A publisher (publish, roll, rollback, pause, resume, resign, status, pull): upload blobs
 * (multipart included), add manifests that do not exist yet, rewrite the channel and its signature, read
 * everything of the role and its reports. No delete, and no overwriting a manifest.
 */
export function publisherPolicy(input: IamPolicyInput): PolicyDocument {
  return publisherDocument(settingsOf(input));
}

function publisherDocument(s: Settings): PolicyDocument {
  const k = keysOf(s);
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'ReadRoleAndBlobs', Effect: 'Allow', Action: ['s3:GetObject'], Resource: arns(s, [k.channel, k.channelSignature, k.releases, k.reports, k.failures, k.blobs]) },
      // lib-storage's multipart upload (create, parts, complete) is authorized as s3:PutObject.
      { Sid: 'UploadBlobs', Effect: 'Allow', Action: ['s3:PutObject', 's3:AbortMultipartUpload'], Resource: arns(s, [k.blobs]) },
      {
        // herd writes manifests with If-None-Match: *; the condition makes that the only way.
        Sid: 'AddManifestsNeverOverwrite', Effect: 'Allow', Action: ['s3:PutObject'], Resource: arns(s, [k.releases]),
        Condition: { Null: { 's3:if-none-match': 'false' } },
      },
      { Sid: 'PointAndSignTheChannel', Effect: 'Allow', Action: ['s3:PutObject'], Resource: arns(s, [k.channel, k.channelSignature]) },
      {
        Sid: 'ListRoleAndBlobs', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: bucketArns(s),
        Condition: { StringLike: { 's3:prefix': [k.roleTree, k.blobs] } },
      },
      ...directoryBucketStatements(s),
    ],
  };
}

/**
 * Whoever publishes the herd executable and prints user-data (publish-agent, user-data):
 * upload executables (content-addressed, never deleted) and rewrite the pointer to the latest.
 * Apart from the publisher policy because the agent runs as root on every instance.
 */
export function imagePolicy(input: Omit<IamPolicyInput, 'role'>): PolicyDocument {
  return imageDocument(settingsOf({ ...input, role: '*' }));
}

function imageDocument(s: Settings): PolicyDocument {
  const k = keysOf(s);
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'UploadAgentExecutables', Effect: 'Allow', Action: ['s3:PutObject', 's3:AbortMultipartUpload'], Resource: arns(s, [k.agentExecutables]) },
      { Sid: 'ReadAgentExecutablesAndPointer', Effect: 'Allow', Action: ['s3:GetObject'], Resource: arns(s, [k.agentExecutables, k.agentPointer]) },
      { Sid: 'PointAtTheLatestAgent', Effect: 'Allow', Action: ['s3:PutObject'], Resource: arns(s, [k.agentPointer]) },
      {
        Sid: 'ListAgentExecutables', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: bucketArns(s),
        Condition: { StringLike: { 's3:prefix': [k.agentExecutables, k.agentPointer] } },
      },
    ],
  };
}

const DIRECTORY_NOTE = '# s3express:CreateSession: on a directory bucket a session may read and write any object of the bucket (the s3: statements do not apply there); with it an instance could rewrite a channel or manifest there, which agents with trustedKeys (signed releases and channels) refuse.';

export interface IamPolicyResult {
  /** For people: each chosen policy under a heading. */
  text: string;
  /** For scripts: {instance?, publisher?, image?}. */
  data: Partial<Record<PolicyKind, PolicyDocument>>;
}

/** The chosen policies, for people and for scripts; UsageError on a bad flag. */
export function iamPolicies(input: Omit<IamPolicyInput, 'role'> & { role?: string; which?: string }): IamPolicyResult {
  const which = parseFlag('which', z.enum(CHOICES), input.which ?? 'both');
  const wants = (kind: PolicyKind) => which === kind || which === 'all' || (which === 'both' && kind !== 'image');
  // The image policy is the same for every role: --role is needed only with another policy.
  const s = settingsOf(input.role === undefined && which === 'image' ? { ...input, role: '*' } : input);
  const where = `s3://${s.bucket}/${keysOf(s).base}`;
  const roleWords = s.role === '*' ? 'every role' : `role ${s.role}`;
  const data: IamPolicyResult['data'] = {};
  const parts: string[] = [];
  if (wants('instance')) {
    data.instance = instanceDocument(s);
    parts.push([
      `# Instance policy: for the instance profile of ${roleWords}.`,
      `# Reads the channel and its signature, manifests and blobs under ${where}, and the herd executables under agent/sha256/ (for user-data);`,
      `# writes only reports under roles/${s.role}/instances/ and failure markers under roles/${s.role}/failures/ (which it also lists and reads).`,
      ...(s.describeTags ? ['# ec2:DescribeTags is needed only when instance metadata tags are off.'] : []),
      ...(directoryBucketStatements(s).length > 0 ? [DIRECTORY_NOTE] : []),
      ...(s.autoScalingGroup ? [`# The autoscaling statements let the agent complete the lifecycle hooks of group ${s.autoScalingGroup} (autoScaling in agent.json).`] : []),
      JSON.stringify(data.instance, null, 2),
    ].join('\n'));
  }
  if (wants('publisher')) {
    data.publisher = publisherDocument(s);
    parts.push([
      `# Publisher policy: for whoever runs publish, roll, rollback, pause, resume, resign, status and pull for ${roleWords}.`,
      `# Uploads blobs and adds manifests under ${where} (never overwrites one, never deletes), rewrites the channel and its signature, reads reports.`,
      ...(directoryBucketStatements(s).length > 0 ? [DIRECTORY_NOTE] : []),
      JSON.stringify(data.publisher, null, 2),
    ].join('\n'));
  }
  if (wants('image')) {
    data.image = imageDocument(s);
    parts.push([
      '# Image policy: for whoever runs publish-agent and user-data (every role: the agent runs as root on each instance).',
      `# Uploads herd executables under ${where}agent/sha256/ (never overwrites one, never deletes) and rewrites ${keysOf(s).agentPointer}.`,
      JSON.stringify(data.image, null, 2),
    ].join('\n'));
  }
  return { text: parts.join('\n\n'), data };
}
