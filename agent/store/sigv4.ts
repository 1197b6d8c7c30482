// AWS Signature Version 4, header form: what the agent's own S3 client (s3-http.ts) signs
// every request with, and its one EC2 call (identity/describe-tags.ts). Pure but for
// node:crypto's HMAC and SHA-256.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
import { createHash, createHmac } from 'node:crypto';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface SignInput {
  method: string;
  /** The Host header: host, and :port when not the scheme's default. */
  host: string;
  /** The path as sent, already URI-encoded (see encodeKeyPath). */
  path: string;
  /** Query parameters, unencoded. */
  query?: Readonly<Record<string, string>>;
  /** Headers to send and sign, names lowercase; host and the x-amz-* ones are added. */
  headers: Readonly<Record<string, string>>;
  /** Hex SHA-256 of the body (EMPTY_SHA256 for none). */
  payloadHash: string;
  region: string;
  /** The service signed for (default s3; s3 and s3express also get the x-amz-content-sha256 header). */
  service?: string;
  /**
   * The header that carries credentials.sessionToken, signed: x-amz-security-token (default),
   * or x-amz-s3session-token for a directory bucket's session (the SDK's signWithCredentials).
   */
  sessionTokenHeader?: 'x-amz-security-token' | 'x-amz-s3session-token';
  credentials: Credentials;
  now: Date;
}

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ALGORITHM = 'AWS4-HMAC-SHA256';

/** The request's headers with host, x-amz-date, x-amz-content-sha256 (S3), the session token and authorization added. */
export function signRequest(input: SignInput): Record<string, string> {
  const service = input.service ?? 's3';
  const amzDate = input.now.toISOString().replace(/[-:]|\.\d{3}/g, '');
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = {
    ...input.headers,
    host: input.host,
    'x-amz-date': amzDate,
    ...(service === 's3' || service === 's3express' ? { 'x-amz-content-sha256': input.payloadHash } : {}),
    ...(input.credentials.sessionToken ? { [input.sessionTokenHeader ?? 'x-amz-security-token']: input.credentials.sessionToken } : {}),
  };
  const names = Object.keys(headers).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    input.method,
    input.path,
    canonicalQuery(input.query ?? {}),
    ...names.map((n) => `${n}:${String(lower[n]).trim().replace(/\s+/g, ' ')}`),
    '',
    signedHeaders,
    input.payloadHash,
  ].join('\n');
  const scope = `${day}/${input.region}/${service}/aws4_request`;
  const stringToSign = [ALGORITHM, amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signature = hmac(signingKey(input.credentials.secretAccessKey, day, input.region, service), stringToSign).toString('hex');
  headers.authorization = `${ALGORITHM} Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}

/** An object key as a URI path: each segment encoded as SigV4 wants (RFC 3986 unreserved kept), slashes kept. */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(uriEncode).join('/');
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalQuery(query: Readonly<Record<string, string>>): string {
  return Object.entries(query)
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function signingKey(secret: string, day: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}
