// Listing a prefix through the SDK's S3 client, every page: what operators' commands need
// (status, mirror) and the agent never does. Loaded with the SDK client, on first use.
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

export interface Listing {
  /** Keys of objects directly under the prefix (with a delimiter) or anywhere below it. */
  keys: string[];
  /** With a delimiter: the "sub-folders" one level down, each ending in it. */
  prefixes: string[];
}

export async function listPrefix(client: S3Client, bucket: string, prefix: string, delimiter?: string): Promise<Listing> {
  const listing: Listing = { keys: [], prefixes: [] };
  let token: string | undefined;
  do {
    const out = await client.send(new ListObjectsV2Command({
      Bucket: bucket, Prefix: prefix, ContinuationToken: token, ...(delimiter ? { Delimiter: delimiter } : {}),
    }));
    for (const o of out.Contents ?? []) if (o.Key) listing.keys.push(o.Key);
    for (const p of out.CommonPrefixes ?? []) if (p.Prefix) listing.prefixes.push(p.Prefix);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return listing;
}
