// Builds the S3 client for one source: the SDK's default credential chain (instance
// profile on EC2), the source's endpoint and path style, and timeouts that fail fast.
import { S3Client } from '@aws-sdk/client-s3';
import type { SourceConfig } from '../config.ts';

export interface StaticCredentials { accessKeyId: string; secretAccessKey: string }

/** A connection that moves no byte for this long is dead. */
const SOCKET_IDLE_MS = 15_000;

/**
 * `credentials` only for local stores (demo, tests); otherwise the default chain, from the
 * shared-config `profile` when one is given (herd mirror --profile / --to-profile).
 */
export function createS3Client(source: SourceConfig, credentials?: StaticCredentials, profile?: string): S3Client {
  const custom = source.endpoint !== undefined;
  return new S3Client({
    region: source.region ?? 'us-east-1',
    ...(custom ? { endpoint: source.endpoint } : {}),
    // S3-compatible stores (MinIO, s3rver, Ceph) want path-style addressing by default.
    forcePathStyle: source.forcePathStyle ?? custom,
    followRegionRedirects: true,
    // herd verifies every blob's sha256 itself; the SDK's newer default (aws-chunked
    // uploads with trailing CRC32) is not understood by many S3-compatible stores.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    ...(credentials ? { credentials } : {}),
    ...(profile !== undefined ? { profile } : {}),
    // socketTimeout is the idle limit (no byte either way): a stalled download or an answer
    // that never comes fails instead of hanging. (requestTimeout, in this SDK, only warns
    // unless throwOnRequestTimeout is set, and would also cut off long, healthy transfers.)
    requestHandler: { connectionTimeout: 3_000, socketTimeout: SOCKET_IDLE_MS },
  });
}
