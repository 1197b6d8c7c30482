// The role tag through the EC2 API, for instances whose metadata tags are off. Needs
// ec2:DescribeTags in the instance profile.
import type { EC2Client } from '@aws-sdk/client-ec2';
import { IdentityError, describeError } from '../errors.ts';

export interface ReadRoleTagViaApiInput {
  ec2: EC2Client;
  instanceId: string;
  tagKey: string;
}

/** The value of tag `tagKey` on `instanceId`, or null when the instance has no such tag. */
export async function readRoleTagViaApi(input: ReadRoleTagViaApiInput): Promise<string | null> {
  const { ec2, instanceId, tagKey } = input;
  let tags;
  try {
    // Loaded on first use: see defaultEc2 in resolve.ts.
    const { DescribeTagsCommand } = await import('@aws-sdk/client-ec2');
    const out = await ec2.send(
      new DescribeTagsCommand({
        Filters: [
          { Name: 'resource-id', Values: [instanceId] },
          { Name: 'key', Values: [tagKey] },
        ],
      }),
    );
    tags = out.Tags ?? [];
  } catch (err) {
    throw new IdentityError(
      `DescribeTags for ${instanceId} failed (${describeError(err)}); ` +
        'the instance profile needs ec2:DescribeTags, or turn on instance metadata tags',
      { cause: err },
    );
  }
  // The key filter takes '*' and '?' as wildcards: keep only the exact key on this instance.
  const tag = tags.find((t) => t.Key === tagKey && (t.ResourceId === undefined || t.ResourceId === instanceId));
  return tag?.Value ?? null;
}
