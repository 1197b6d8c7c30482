// The agent's own S3 client: GET (conditional), HEAD and PUT of one object, signed with SigV4
// (sigv4.ts) over node:http(s) with keep-alive. It replaces the AWS SDK's S3 client on the
// agent's steady path (a fifth of its memory) and keeps what herd relied on from it: the
// SDK's default credential chain (env, shared files and profile, SSO, web identity, ECS,
// IMDSv2 instance profile; credentials.ts), 3 attempts with jittered backoff for network errors, 5xx,
// throttling and clock skew, the bucket's region from a 301, the connect and socket-idle
// timeouts, and errors that carry the S3 error code as `name` and the status as
// `$metadata.httpStatusCode`, like the SDK's.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { SourceConfig } from '../config.ts';
import { http, https } from '../http-modules.ts';
import type { Logger } from '../log.ts';
import { VERSION } from '../version.ts';
import { defaultCredentials, fixedCredentials, type CredentialSource } from './credentials.ts';
import { s3Target, type S3Target } from './s3-endpoint.ts';
import { EMPTY_SHA256, encodeKeyPath, sha256Hex, signRequest, type Credentials } from './sigv4.ts';

/** No byte either way for this long: the connection is dead (a stalled download fails instead of hanging). */
export const SOCKET_IDLE_MS = 15_000;
const CONNECT_TIMEOUT_MS = 3_000;
/** Attempts per request, as the SDK client was configured (maxAttempts: 3). */
const MAX_ATTEMPTS = 3;
const MAX_ERROR_BODY = 64 * 1024;

export interface S3HttpInput {
  source: SourceConfig;
  log: Logger;
  /** Fixed keys (local stores: demo, tests); otherwise the default credential chain's (credentials.ts). */
  credentials?: Credentials;
  /** AWS_USE_FIPS_ENDPOINT, AWS_USE_DUALSTACK_ENDPOINT, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, and the credential chain's variables, as the SDK reads them. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Retry delay before jitter, doubled each retry (default 100 ms, the SDK's). */
  retryBaseMs?: number;
}

export interface S3Request {
  method: 'GET' | 'HEAD' | 'PUT';
  key: string;
  /** Extra headers (lowercase names), signed: if-none-match, if-match, content-type. */
  headers?: Record<string, string>;
  body?: Buffer;
  signal: AbortSignal;
}

export interface S3Response {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body; read it or resume() it (a HEAD's and a 304's are empty). */
  body: IncomingMessage;
}

/** An answer from S3 that is an error: `name` is S3's error code, as the SDK's exceptions have it. */
export class S3ResponseError extends Error {
  readonly $metadata: { httpStatusCode: number };
  readonly headers: IncomingHttpHeaders;
  constructor(status: number, code: string, message: string, headers: IncomingHttpHeaders) {
    super(message);
    this.name = code;
    this.$metadata = { httpStatusCode: status };
    this.headers = headers;
  }
}

/** A connection that could not be made, or went silent, in time. */
export class S3TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

export class S3Http {
  readonly region: string;
  private readonly source: SourceConfig;
  private readonly endpoint: string | undefined;
  private readonly fips: boolean;
  private readonly dualstack: boolean;
  private readonly credentials: CredentialSource;
  private readonly retryBaseMs: number;
  private readonly agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 50 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 50 }),
  };
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
  }

  /** The target of requests in `region` (another one after a region redirect). */
  target(region: string): S3Target {
    return s3Target({
      bucket: this.source.bucket, region, endpoint: this.endpoint,
      forcePathStyle: this.source.forcePathStyle ?? this.endpoint !== undefined, fips: this.fips, dualstack: this.dualstack,
    });
  }

  /**
   * One request, retried until an answer that is not a transient error: resolves with a 2xx
   * or a 304 once its headers arrive; throws S3ResponseError, or the network's error.
   */
  async send(req: S3Request): Promise<S3Response> {
    let region = this.region;
    let redirected = false;
    for (let attempt = 1; ; attempt++) {
      let error: unknown;
      try {
        const res = await this.attempt(req, region);
        if (res.status < 300 || res.status === 304) return res;
        error = await responseError(res);
      } catch (err) {
        error = err;
      }
      if (req.signal.aborted) throw error;
      const bucketRegion = redirectRegion(error);
      if (bucketRegion && !redirected && bucketRegion !== region) {
        redirected = true;
        region = bucketRegion;
        attempt--;
        continue;
      }
      if (isClockSkew(error)) this.learnClock(error as S3ResponseError);
      if (attempt >= MAX_ATTEMPTS || !isTransient(error)) throw error;
      const ceiling = (isThrottling(error) ? 5 : 1) * this.retryBaseMs * 2 ** attempt;
      await sleep(Math.floor(Math.random() * Math.min(20_000, ceiling)), req.signal).catch(() => { throw error; });
    }
  }

  /** Ends idle keep-alive connections. */
  close(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }

  private async attempt(req: S3Request, region: string): Promise<S3Response> {
    const credentials = await this.credentials();
    const target = this.target(region);
    const path = `${target.basePath}/${encodeKeyPath(req.key)}`;
    const headers = signRequest({
      method: req.method, host: target.host, path, region, credentials,
      headers: { ...req.headers, ...(req.body ? { 'content-length': String(req.body.length) } : {}) },
      payloadHash: req.body ? sha256Hex(req.body) : EMPTY_SHA256,
      now: new Date(Date.now() + this.clockOffsetMs),
    });
    headers['user-agent'] = `herd/${VERSION}`;
    const client = target.protocol === 'http:' ? http : https;
    return new Promise<S3Response>((resolve, reject) => {
      let response: IncomingMessage | null = null;
      const request = client.request({
        protocol: target.protocol, hostname: target.hostname, port: target.port, path, method: req.method, headers,
        agent: this.agents[target.protocol], signal: req.signal,
      }, (res) => {
        response = res;
        // Whoever reads the body sees its errors; one nobody reads must not crash the process.
        res.on('error', () => {});
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      const fail = (err: Error): void => {
        if (response) response.destroy(err);
        request.destroy(err);
      };
      request.on('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(() => fail(new S3TimeoutError(`no connection to ${target.host} within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
        socket.once('connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      // The socket's idle timer also runs while the body streams: a stalled download fails.
      request.setTimeout(SOCKET_IDLE_MS, () => fail(new S3TimeoutError(`the request socket timed out after ${SOCKET_IDLE_MS} ms of inactivity`)));
      // Before the answer: the attempt fails. After it: the body carries the error.
      request.on('error', reject);
      request.end(req.body);
    });
  }

  private learnClock(err: S3ResponseError): void {
    const serverNow = Date.parse(String(err.headers.date ?? ''));
    if (Number.isFinite(serverNow) && Math.abs(serverNow - Date.now() - this.clockOffsetMs) > 5 * 60_000) {
      this.clockOffsetMs = serverNow - Date.now();
    }
  }
}

/** AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS (the SDK's service-specific endpoints). */
function configuredEndpoint(env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true') return undefined;
  return env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
}

/** The error an answer of 3xx (but 304), 4xx or 5xx stands for: S3's <Code> and <Message> when it sent them. */
async function responseError(res: S3Response): Promise<S3ResponseError> {
  let text = '';
  try {
    for await (const chunk of res.body) {
      if (text.length < MAX_ERROR_BODY) text += (chunk as Buffer).toString('utf8');
    }
  } catch {
    // the status says enough
  }
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? STATUS_NAMES[res.status] ?? `Http${res.status}`;
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? `HTTP ${res.status}`;
  return new S3ResponseError(res.status, code, message, res.headers);
}

/** Names the SDK gives answers without a body (a HEAD's), by status. */
const STATUS_NAMES: Record<number, string> = {
  301: 'PermanentRedirect', 400: 'BadRequest', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict',
  412: 'PreconditionFailed', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable',
};

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

/** The bucket's region when S3 says the request went to the wrong one (the SDK's followRegionRedirects). */
function redirectRegion(err: unknown): string | undefined {
  if (!(err instanceof S3ResponseError)) return undefined;
  const region = err.headers['x-amz-bucket-region'];
  if (typeof region !== 'string' || !region) return undefined;
  const status = err.$metadata.httpStatusCode;
  return status === 301 || (status === 400 && err.name === 'IllegalLocationConstraintException') ? region : undefined;
}

const THROTTLING = new Set(['Throttling', 'ThrottlingException', 'ThrottledException', 'RequestThrottledException', 'TooManyRequestsException',
  'ProvisionedThroughputExceededException', 'TransactionInProgressException', 'RequestLimitExceeded', 'BandwidthLimitExceeded',
  'LimitExceededException', 'RequestThrottled', 'SlowDown', 'PriorRequestNotComplete', 'EC2ThrottledException']);
const CLOCK_SKEW = new Set(['AuthFailure', 'InvalidSignatureException', 'RequestExpired', 'RequestInTheFuture', 'RequestTimeTooSkewed', 'SignatureDoesNotMatch']);
const TRANSIENT_CODES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'InternalError']);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

function isThrottling(err: unknown): boolean {
  return statusOf(err) === 429 || THROTTLING.has((err as Error | null)?.name ?? '');
}

function isClockSkew(err: unknown): boolean {
  return err instanceof S3ResponseError && CLOCK_SKEW.has(err.name);
}

/** What the SDK's standard retry strategy retries: network failures and timeouts, 5xx, throttling, clock skew. */
function isTransient(err: unknown): boolean {
  const status = statusOf(err);
  if (status !== undefined) return status >= 500 || isThrottling(err) || isClockSkew(err) || TRANSIENT_CODES.has((err as Error).name);
  const e = err as NodeJS.ErrnoException | null;
  return e instanceof S3TimeoutError || NETWORK_CODES.has(e?.code ?? '') || TRANSIENT_CODES.has(e?.name ?? '');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
