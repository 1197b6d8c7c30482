// Learns who this instance is: from the config (static), or from IMDSv2 — instance id,
// region, AZ, and the role tag from metadata tags or, when those are off, DescribeTags.
import type { EC2Client } from '@aws-sdk/client-ec2';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { readRoleTagViaApi } from './describe-tags.ts';
import { ImdsClient } from './imds-client.ts';
import {
  chooseRoleSource,
  isMetadataTagKey,
  metadataTagPath,
  missingTagError,
  validateIdentity,
  validateLocation,
  validateRole,
  type MetadataTagAnswers,
} from './role-source.ts';
import type { Identity, IdentityConfig, RoleSource } from './types.ts';

export interface ResolveIdentityInput {
  config: IdentityConfig;
  log: Logger;
  /** An SDK EC2 client for the DescribeTags fallback; default: the agent's own request (describe-tags.ts). */
  makeEc2?: (region: string) => EC2Client | Promise<EC2Client>;
  /** A metadata client to use (and keep using for later polls); default built from config. */
  imds?: ImdsClient;
}

/** The validated identity, or IdentityError (ConfigError for a bad static identity). */
export async function resolveIdentity(input: ResolveIdentityInput): Promise<Identity> {
  const { config } = input;
  const log = input.log.child({ module: 'identity' });
  if (config.provider === 'static') {
    const { instanceId, role, az, region } = config;
    const identity = validateIdentity(
      { instanceId, role, az, region, provider: 'static' },
      'identity (static)',
      (message) => new ConfigError(message),
    );
    logResolved(log, identity, 'static');
    return identity;
  }

  const imds = input.imds ?? new ImdsClient({ log: input.log, endpoint: config.endpoint, timeoutMs: config.timeoutMs });
  // Read one at a time, so the first failure stops the lot; checked before the id is
  // used in a request or an error message.
  const { instanceId, region, az } = validateLocation(
    {
      instanceId: await imds.get('meta-data/instance-id'),
      region: await imds.get('meta-data/placement/region'),
      az: await imds.get('meta-data/placement/availability-zone'),
    },
    'instance metadata',
  );
  const { value, source } = await readRoleTag({ imds, ...(input.makeEc2 ? { makeEc2: input.makeEc2 } : {}), instanceId, region, tagKey: config.roleTag, log });
  const role = validateRole(value, instanceId, config.roleTag);
  const identity = validateIdentity({ instanceId, role, az, region, provider: 'imds' }, 'instance metadata');
  logResolved(log, identity, source);
  return identity;
}

interface ReadRoleTagInput {
  imds: ImdsClient;
  makeEc2?: (region: string) => EC2Client | Promise<EC2Client>;
  instanceId: string;
  region: string;
  tagKey: string;
  log: Logger;
}

async function readRoleTag(input: ReadRoleTagInput): Promise<{ value: string; source: RoleSource }> {
  const { imds, instanceId, tagKey, log } = input;
  const decision = chooseRoleSource(await askMetadataTags(imds, tagKey));
  if (decision.use === 'value') return { value: decision.value, source: 'metadata-tags' };
  if (decision.use === 'none') throw missingTagError(instanceId, tagKey);

  log.info({ reason: decision.reason, tagKey }, 'instance metadata tags unavailable; reading the role tag with DescribeTags');
  const ec2 = input.makeEc2 ? await input.makeEc2(input.region) : undefined;
  try {
    const value = await readRoleTagViaApi({ ...(ec2 ? { ec2 } : {}), region: input.region, instanceId, tagKey, log: input.log });
    if (value === null) throw missingTagError(instanceId, tagKey);
    return { value, source: 'describe-tags' };
  } finally {
    ec2?.destroy();
  }
}

/** The tag's value and, only when that is missing, the key listing that tells "tags
 *  off" from "no such tag". Null when metadata cannot hold such a key at all. */
async function askMetadataTags(imds: ImdsClient, tagKey: string): Promise<MetadataTagAnswers | null> {
  if (!isMetadataTagKey(tagKey)) return null;
  const value = await imds.getOrNull(metadataTagPath(tagKey));
  if (value !== null) return { value, listing: null };
  return { value: null, listing: await imds.getOrNull('meta-data/tags/instance') };
}

function logResolved(log: Logger, identity: Identity, roleSource: RoleSource): void {
  const { instanceId, role, az, region, provider } = identity;
  log.info({ provider, roleSource, instanceId, role, az, region }, 'identity resolved');
}
