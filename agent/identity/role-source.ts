// Pure decisions about where the role tag is read from and whether what was read can
// be used. The I/O around them is in resolve.ts.
import * as z from '../zod.ts';
import { IdentityError } from '../errors.ts';
import { instanceIdSchema, roleSchema } from '../store/schemas.ts';
import { formatIssues } from '../validate.ts';
import type { Identity } from './types.ts';

/** AWS only exposes tags in instance metadata whose keys use these characters, and not
 *  the keys '.', '..' or '_index'. A key outside that cannot be read from metadata. */
export function isMetadataTagKey(key: string): boolean {
  return /^[A-Za-z0-9+\-=.,_:@]{1,128}$/.test(key) && key !== '.' && key !== '..' && key !== '_index';
}

/** The metadata path of one instance tag. Characters legal in a path segment (':' '@'
 *  '+' '=' ',') stay as they are, so 'herd:role' is sent as AWS expects; anything else is
 *  percent-encoded so it can never change the path. */
export function metadataTagPath(key: string): string {
  const segment = encodeURIComponent(key).replace(/%(3A|40|2B|3D|2C)/gi, (hex) => decodeURIComponent(hex));
  return `meta-data/tags/instance/${segment}`;
}

/** What the metadata service said about tags: the role tag's value (null on 404), and
 *  the tag-key listing (null on 404, which is how AWS says metadata tags are off). */
export interface MetadataTagAnswers {
  value: string | null;
  listing: string | null;
}

export type RoleSourceDecision =
  | { use: 'value'; value: string }
  | { use: 'describe-tags'; reason: 'tags-off' | 'key-not-exposable' }
  | { use: 'none' };

/** Given the answers so far, where the role comes from. `answers` is null when the key
 *  could not be asked for in metadata at all. */
export function chooseRoleSource(answers: MetadataTagAnswers | null): RoleSourceDecision {
  if (answers === null) return { use: 'describe-tags', reason: 'key-not-exposable' };
  if (answers.value !== null) return { use: 'value', value: answers.value };
  if (answers.listing === null) return { use: 'describe-tags', reason: 'tags-off' };
  return { use: 'none' };
}

export function missingTagError(instanceId: string, tagKey: string): IdentityError {
  return new IdentityError(`instance ${instanceId} has no tag '${tagKey}'`);
}

/** The role tag's value if it is a usable role name; it becomes an S3 key segment, so
 *  anything like '../x' is refused. */
export function validateRole(value: string, instanceId: string, tagKey: string): string {
  const result = roleSchema.safeParse(value);
  if (result.success) return result.data;
  throw new IdentityError(formatIssues(`instance ${instanceId} tag '${tagKey}' value ${JSON.stringify(value)}`, result.error));
}

const placementSchema = z.string().check(z.maxLength(64), z.regex(/^[A-Za-z0-9._-]+$/, 'must be 1-64 of [A-Za-z0-9._-]'));
const locationSchema = z.strictObject({ instanceId: instanceIdSchema, az: placementSchema, region: placementSchema });
const identitySchema = z.extend(locationSchema, { role: roleSchema, provider: z.enum(['imds', 'static']) });

export type InstanceLocation = z.infer<typeof locationSchema>;

/** Instance id, AZ and region from metadata if safe to use in requests, paths and reports. */
export function validateLocation(raw: InstanceLocation, where: string): InstanceLocation {
  const result = locationSchema.safeParse(raw);
  if (!result.success) throw new IdentityError(formatIssues(where, result.error));
  return result.data;
}

/** The identity if every field is safe to use in paths, object keys and reports.
 *  `makeError` lets a static identity fail as a config error rather than an identity one. */
export function validateIdentity(
  raw: Identity,
  where: string,
  makeError: (message: string) => Error = (message) => new IdentityError(message),
): Identity {
  const result = identitySchema.safeParse(raw);
  if (!result.success) throw makeError(formatIssues(where, result.error));
  return result.data;
}
