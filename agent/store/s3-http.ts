// The agent's own S3 client: GET (conditional), HEAD and PUT of one object, signed with SigV4
// (sigv4.ts), over the agent's HTTP exchange (http-exchange.ts: keep-alive, timeouts, retries,
// errors named like the SDK's). It replaces the AWS SDK's S3 client on the agent's steady path
// (a fifth of its memory) and keeps what herd relied on from it: the SDK's default credential
// chain (env, shared files and profile, SSO, web identity, ECS, IMDSv2 instance profile;
// credentials.ts), the
// bucket's region from a 301, and the server's clock learnt from a clock-skew refusal. A
// directory bucket (S3 Express One Zone) is addressed at its zonal endpoint and its object
// requests are signed with a session's credentials (express-session.ts).
import type { SourceConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { VERSION } from '../version.ts';
import { defaultCredentials, fixedCredentials, type CredentialSource } from './credentials.ts';
import {
  HttpConnections, HttpResponseError, isClockSkew, sendWithRetries, type ObjectClient, type ObjectRequest, type ObjectResponse,
} from './http-exchange.ts';
import { ExpressSessions, type ExpressSession } from './express-session.ts';
import { directoryBucketZone, s3Target, type S3Target } from './s3-endpoint.ts';
import { EMPTY_SHA256, encodeKeyPath, sha256Hex, signRequest, uriEncode, type Credentials } from './sigv4.ts';

export interface S3HttpInput {
  source: SourceConfig;
  log: Logger;
  /** Fixed keys (local stores: demo, tests); otherwise the SDK's default credential chain. */
  credentials?: Credentials;
  /** AWS_USE_FIPS_ENDPOINT, AWS_USE_DUALSTACK_ENDPOINT, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, as the SDK reads them. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Retry delay before jitter, doubled each retry (default 100 ms, the SDK's). */
  retryBaseMs?: number;
}

export class S3Http implements ObjectClient {
  readonly region: string;
  private readonly source: SourceConfig;
  private readonly endpoint: string | undefined;
  private readonly fips: boolean;
  private readonly dualstack: boolean;
  private readonly credentials: CredentialSource;
  private readonly retryBaseMs: number;
  private readonly connections = new HttpConnections();
  /** A directory bucket's sessions; undefined for any other bucket. */
  private readonly express: ExpressSessions | undefined;
  /** Server time minus ours, learnt from a clock-skew refusal (the SDK's systemClockOffset). */
  private clockOffsetMs = 0;

  constructor(input: S3HttpInput) {
    // Like the SDK, which reads these from the environment itself.
    const env = input.env ?? process.env;
    this.source = input.source;
    this.region = input.source.region ?? 'us-east-1';
    this.endpoint = input.source.endpoint ?? configuredEndpoint(env);
    this.fips = env.AWS_USE_FIPS_ENDPOINT === 'true';
    this.dualstack = env.AWS_USE_DUALSTACK_ENDPOINT === 'true';
    this.retryBaseMs = input.retryBaseMs ?? 100;
    this.credentials = input.credentials ? fixedCredentials(input.credentials) : defaultCredentials({ region: this.region, log: input.log, env });
    this.express = directoryBucketZone(input.source.bucket) === undefined ? undefined : new ExpressSessions({ createSession: () => this.createSession() });
  }

  /** The target of requests in `region` (another one after a region redirect). */
  target(region: string): S3Target {
    return s3Target({
      bucket: this.source.bucket, region, endpoint: this.endpoint,
      forcePathStyle: this.source.forcePathStyle ?? this.endpoint !== undefined, fips: this.fips, dualstack: this.dualstack,
    });
  }

  /** One request, retried (http-exchange.ts); a wrong region is followed once to the bucket's. */
  send(req: ObjectRequest): Promise<ObjectResponse> {
    let region = this.region;
    let redirected = false;
    let session: ExpressSession | undefined;
    let renewed = false;
    return sendWithRetries({
      signal: req.signal, retryBaseMs: this.retryBaseMs,
      attempt: async () => {
        session = await this.express?.current();
        return this.attempt(req, region, session);
      },
      onError: (error) => {
        // A session refused or expired before we thought: one fresh session, one more attempt.
        if (session && !renewed && isSessionRefusal(error)) {
          renewed = true;
          this.express?.forget(session);
          return 'again';
        }
        const bucketRegion = redirectRegion(error);
        if (bucketRegion && !redirected && bucketRegion !== region) {
          redirected = true;
          region = bucketRegion;
          return 'again';
        }
        if (isClockSkew(error)) this.learnClock(error);
      },
    });
  }

  close(): void {
    this.connections.close();
  }

  /** One attempt, signed with the instance's credentials, or for s3express with a directory bucket's session. */
  private async attempt(req: ObjectRequest, region: string, session?: ExpressSession): Promise<ObjectResponse> {
    const credentials = session ?? await this.credentials();
    const target = this.target(region);
    const path = `${target.basePath}/${encodeKeyPath(req.key)}`;
    const query = req.query ?? {};
    const headers = signRequest({
      method: req.method, host: target.host, path, query, region, credentials,
      ...(session ? { service: 's3express', sessionTokenHeader: 'x-amz-s3session-token' as const } : {}),
      headers: { ...req.headers, ...(req.body ? { 'content-length': String(req.body.length) } : {}) },
      payloadHash: req.body ? sha256Hex(req.body) : EMPTY_SHA256,
      now: new Date(Date.now() + this.clockOffsetMs),
    });
    headers['user-agent'] = `herd/${VERSION}`;
    return this.connections.request({
      protocol: target.protocol, hostname: target.hostname, port: target.port, host: target.host,
      path: `${path}${queryString(query)}`, method: req.method, headers, body: req.body, signal: req.signal,
    });
  }

  /** CreateSession on the directory bucket (ReadWrite: the agent writes reports and markers): the answer's XML. */
  private async createSession(): Promise<string> {
    const signal = AbortSignal.timeout(30_000);
    try {
      const res = await sendWithRetries({
        signal, retryBaseMs: this.retryBaseMs,
        attempt: async () => {
          const credentials = await this.credentials();
          const target = this.target(this.region);
          const path = `${target.basePath}/`;
          const query = { session: '' };
          const headers = signRequest({
            method: 'GET', host: target.host, path, query, region: this.region, credentials, service: 's3express',
            headers: { 'x-amz-create-session-mode': 'ReadWrite' }, payloadHash: EMPTY_SHA256,
            now: new Date(Date.now() + this.clockOffsetMs),
          });
          headers['user-agent'] = `herd/${VERSION}`;
          return this.connections.request({
            protocol: target.protocol, hostname: target.hostname, port: target.port, host: target.host,
            path: `${path}${queryString(query)}`, method: 'GET', headers, signal,
          });
        },
        onError: (error) => { if (isClockSkew(error)) this.learnClock(error); },
      });
      let xml = '';
      for await (const chunk of res.body) {
        xml += (chunk as Buffer).toString('utf8');
        if (xml.length > 64 * 1024) throw new Error('an answer larger than 64 KiB');
      }
      return xml;
    } catch (err) {
      const what = err instanceof HttpResponseError ? `${err.name} (HTTP ${err.$metadata.httpStatusCode}): ${err.message}` : (err as Error).message;
      throw new CreateSessionError(`directory bucket ${this.source.bucket}: CreateSession failed: ${what}`, { cause: err });
    }
  }

  private learnClock(err: HttpResponseError): void {
    const serverNow = Date.parse(String(err.headers.date ?? ''));
    if (Number.isFinite(serverNow) && Math.abs(serverNow - Date.now() - this.clockOffsetMs) > 5 * 60_000) {
      this.clockOffsetMs = serverNow - Date.now();
    }
  }
}

/** `?a=1&b=2`, encoded as SigV4 encodes it (sigv4.ts), or nothing. */
function queryString(query: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(query).map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`);
  return pairs.length > 0 ? `?${pairs.join('&')}` : '';
}

/** A directory bucket that refused to give the agent a session: not retried as a refused session. */
export class CreateSessionError extends Error {
  override readonly name = 'CreateSessionError';
}

/** An object request refused for its session: 403, or 400 ExpiredToken (S3's answer for an expired token). */
function isSessionRefusal(err: unknown): boolean {
  if (!(err instanceof HttpResponseError)) return false;
  return err.$metadata.httpStatusCode === 403 || err.name === 'ExpiredToken';
}

/** AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS (the SDK's service-specific endpoints). */
function configuredEndpoint(env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true') return undefined;
  return env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
}

/** The bucket's region when S3 says the request went to the wrong one (the SDK's followRegionRedirects). */
function redirectRegion(err: unknown): string | undefined {
  if (!(err instanceof HttpResponseError)) return undefined;
  const region = err.headers['x-amz-bucket-region'];
  if (typeof region !== 'string' || !region) return undefined;
  const status = err.$metadata.httpStatusCode;
  return status === 301 || (status === 400 && err.name === 'IllegalLocationConstraintException') ? region : undefined;
}
