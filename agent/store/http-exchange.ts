// One object request over HTTP(S), as the agent makes them to every source: keep-alive
// connections, 3 s to connect, 15 s of silence ends a connection (a stalled download fails
// instead of hanging), and 3 attempts with jittered backoff for network errors, timeouts, 5xx,
// throttling and clock skew (the AWS SDK's standard retry strategy, which herd relied on).
// Errors carry the error code as `name` (S3's <Code>, else a name for the status) and the
// status as `$metadata.httpStatusCode`, like the SDK's. Shared by the S3 client (s3-http.ts)
// and the read-only HTTP source (http-source.ts).
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { http, https } from '../http-modules.ts';

/** No byte either way for this long: the connection is dead. */
export const SOCKET_IDLE_MS = 15_000;
const CONNECT_TIMEOUT_MS = 3_000;
/** Attempts per request, as the SDK client was configured (maxAttempts: 3). */
const MAX_ATTEMPTS = 3;
const MAX_ERROR_BODY = 64 * 1024;

/** One object of a source: what the transports (transport.ts) ask of a client. */
export interface ObjectRequest {
  method: 'GET' | 'HEAD' | 'PUT';
  key: string;
  /** Extra headers (lowercase names): if-none-match, if-modified-since, if-match, content-type. */
  headers?: Record<string, string>;
  /** Query parameters (a listing's list-type, prefix, continuation-token); S3 only. */
  query?: Record<string, string>;
  body?: Buffer;
  signal: AbortSignal;
}

export interface ObjectResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body; read it or resume() it (a HEAD's and a 304's are empty). */
  body: IncomingMessage;
}

/** A client of one source: resolves with a 2xx or a 304 once its headers arrive, else throws. */
export interface ObjectClient {
  send(req: ObjectRequest): Promise<ObjectResponse>;
  /** Ends idle keep-alive connections. */
  close(): void;
}

/** Where one attempt goes, with every header it sends. */
export interface HttpAttempt {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number | undefined;
  /** The Host, for error messages. */
  host: string;
  /** Path and query, already encoded. */
  path: string;
  method: string;
  headers: Record<string, string>;
  body?: Buffer | undefined;
  signal: AbortSignal;
}

/** An answer that is an error: `name` is S3's error code when it sent one, else a name for the status. */
export class HttpResponseError extends Error {
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
export class HttpTimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/** Keep-alive connections, one pool per scheme, and the timeouts of one attempt. */
export class HttpConnections {
  private readonly agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 50 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 50 }),
  };

  /** One attempt: resolves once the answer's headers arrive, whatever its status. */
  request(a: HttpAttempt): Promise<ObjectResponse> {
    const client = a.protocol === 'http:' ? http : https;
    return new Promise<ObjectResponse>((resolve, reject) => {
      let response: IncomingMessage | null = null;
      const request = client.request({
        protocol: a.protocol, hostname: a.hostname, port: a.port, path: a.path, method: a.method, headers: a.headers,
        agent: this.agents[a.protocol], signal: a.signal,
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
        const timer = setTimeout(() => fail(new HttpTimeoutError(`no connection to ${a.host} within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
        socket.once('connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      // The socket's idle timer also runs while the body streams: a stalled download fails.
      request.setTimeout(SOCKET_IDLE_MS, () => fail(new HttpTimeoutError(`the request socket timed out after ${SOCKET_IDLE_MS} ms of inactivity`)));
      // Before the answer: the attempt fails. After it: the body carries the error.
      request.on('error', reject);
      request.end(a.body);
    });
  }

  close(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }
}

export interface RetryInput {
  signal: AbortSignal;
  /** Retry delay before jitter, doubled each retry. */
  retryBaseMs: number;
  attempt: () => Promise<ObjectResponse>;
  /** Sees each failure first; 'again' repeats the attempt without counting it (a region redirect). */
  onError?: (error: unknown) => 'again' | void;
}

/** Attempts until an answer that is not a transient error: a 2xx or a 304, or throws HttpResponseError or the network's error. */
export async function sendWithRetries(input: RetryInput): Promise<ObjectResponse> {
  for (let attempt = 1; ; attempt++) {
    let error: unknown;
    try {
      const res = await input.attempt();
      if (res.status < 300 || res.status === 304) return res;
      error = await responseError(res);
    } catch (err) {
      error = err;
    }
    if (input.signal.aborted) throw error;
    if (input.onError?.(error) === 'again') {
      attempt--;
      continue;
    }
    if (attempt >= MAX_ATTEMPTS || !isTransient(error)) throw error;
    const ceiling = (isThrottling(error) ? 5 : 1) * input.retryBaseMs * 2 ** attempt;
    await sleep(Math.floor(Math.random() * Math.min(20_000, ceiling)), input.signal).catch(() => { throw error; });
  }
}

/** The error an answer of 3xx (but 304), 4xx or 5xx stands for: S3's <Code> and <Message> when it sent them. */
async function responseError(res: ObjectResponse): Promise<HttpResponseError> {
  let text = '';
  try {
    for await (const chunk of res.body) {
      if (text.length < MAX_ERROR_BODY) text += (chunk as Buffer).toString('utf8');
    }
  } catch {
    // the status says enough
  }
  const code = /<Code>([^<]{1,128})<\/Code>/.exec(text)?.[1] ?? STATUS_NAMES[res.status] ?? `Http${res.status}`;
  const message = /<Message>([^<]{0,512})<\/Message>/.exec(text)?.[1] ?? `HTTP ${res.status}`;
  return new HttpResponseError(res.status, code, message, res.headers);
}

/** Names the SDK gives answers without a body (a HEAD's), by status. */
const STATUS_NAMES: Record<number, string> = {
  301: 'PermanentRedirect', 400: 'BadRequest', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict',
  412: 'PreconditionFailed', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable',
};

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
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

/** A refusal that says our clock is off (S3Http learns the server's from it). */
export function isClockSkew(err: unknown): err is HttpResponseError {
  return err instanceof HttpResponseError && CLOCK_SKEW.has(err.name);
}

/** What the SDK's standard retry strategy retries: network failures and timeouts, 5xx, throttling, clock skew. */
function isTransient(err: unknown): boolean {
  const status = statusOf(err);
  if (status !== undefined) return status >= 500 || isThrottling(err) || isClockSkew(err) || TRANSIENT_CODES.has((err as Error).name);
  const e = err as NodeJS.ErrnoException | null;
  return e instanceof HttpTimeoutError || NETWORK_CODES.has(e?.code ?? '') || TRANSIENT_CODES.has(e?.name ?? '');
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
