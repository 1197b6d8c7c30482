// Where a source's S3 requests go, as the AWS SDK's S3 endpoint rules resolve it for the
// cases herd has: AWS S3 by region (standard, FIPS, dual-stack; virtual-hosted unless the
// bucket name has dots or path style is forced), an S3 Express One Zone directory bucket at its
// zonal endpoint (virtual-hosted only), or an S3-compatible endpoint (path style by default, or
// virtual-hosted under it). Pure.

export interface EndpointInput {
  bucket: string;
  region: string;
  /** An S3-compatible endpoint URL; none: AWS S3 in `region`. */
  endpoint?: string | undefined;
  forcePathStyle: boolean;
  fips?: boolean;
  dualstack?: boolean;
}

export interface S3Target {
  protocol: 'http:' | 'https:';
  hostname: string;
  /** Set only when the URL names one. */
  port: number | undefined;
  /** The Host header. */
  host: string;
  /** Prepended to `/<encoded key>`: '' (virtual-hosted) or '/<bucket>' (path style), after the endpoint's own path. */
  basePath: string;
}

/** AWS partitions by region prefix, and their DNS suffixes (the SDK's partitions.json). */
const PARTITION_SUFFIXES: ReadonlyArray<[RegExp, string]> = [
  [/^cn-/, 'amazonaws.com.cn'],
  [/^us-iso-/, 'c2s.ic.gov'],
  [/^us-isob-/, 'sc2s.sgov.gov'],
  [/^eu-isoe-/, 'cloud.adc-e.uk'],
  [/^us-isof-/, 'csp.hci.ic.gov'],
  [/^eusc-/, 'amazonaws.eu'],
];

export function dnsSuffix(region: string): string {
  return PARTITION_SUFFIXES.find(([re]) => re.test(region))?.[1] ?? 'amazonaws.com';
}

/** A bucket that can be a DNS label of its own (no dots: a certificate covers one level). */
function virtualHostable(bucket: string): boolean {
  return /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket) && !/^\d+\.\d+\.\d+\.\d+$/.test(bucket);
}

/**
 * The Availability Zone ID of a directory bucket (`NAME--AZID--x-s3`), or undefined for any
 * other bucket: the SDK's rule (the name ends in `--x-s3`, the zone is the second-last
 * `--`-separated part, and the name must be one DNS label).
 */
export function directoryBucketZone(bucket: string): string | undefined {
  if (!bucket.endsWith('--x-s3') || !virtualHostable(bucket)) return undefined;
  const parts = bucket.split('--');
  const zone = parts.length >= 3 ? parts[parts.length - 2] : undefined;
  return zone && /^[a-z0-9-]+$/.test(zone) ? zone : undefined;
}

export function s3Target(input: EndpointInput): S3Target {
  const bucketPath = `/${encodeURIComponent(input.bucket)}`;
  if (input.endpoint !== undefined) {
    const url = new URL(input.endpoint);
    const protocol = url.protocol === 'http:' ? 'http:' : 'https:';
    const base = url.pathname.replace(/\/+$/, '');
    const port = url.port ? Number(url.port) : undefined;
    const virtual = !input.forcePathStyle && virtualHostable(input.bucket);
    const hostname = virtual ? `${input.bucket}.${url.hostname}` : url.hostname;
    return { protocol, hostname, port, host: port ? `${hostname}:${port}` : hostname, basePath: virtual ? base : `${base}${bucketPath}` };
  }
  const zone = directoryBucketZone(input.bucket);
  if (zone !== undefined) {
    // Zonal endpoints take the bucket in the host name only (no path style).
    const hostname = `${input.bucket}.s3express${input.fips ? '-fips' : ''}-${zone}${input.dualstack ? '.dualstack' : ''}.${input.region}.${dnsSuffix(input.region)}`;
    return { protocol: 'https:', hostname, port: undefined, host: hostname, basePath: '' };
  }
  const service = `s3${input.fips ? '-fips' : ''}${input.dualstack ? '.dualstack' : ''}`;
  const regional = `${service}.${input.region}.${dnsSuffix(input.region)}`;
  const virtual = !input.forcePathStyle && virtualHostable(input.bucket);
  const hostname = virtual ? `${input.bucket}.${regional}` : regional;
  return { protocol: 'https:', hostname, port: undefined, host: hostname, basePath: virtual ? '' : bucketPath };
}
