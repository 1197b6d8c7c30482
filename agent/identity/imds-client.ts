// An IMDSv2-only metadata client: one session token, fetched with a PUT and reused
// until shortly before it expires; no request is ever sent without it (that is what
// "never v1" means). Plain node:http, one connection per request: the AWS SDK's
// MetadataService, which this replaced, brought most of @smithy/core into the agent's
// memory for two kinds of request.
import { IdentityError } from '../errors.ts';
import { http, https } from '../http-modules.ts';
import type { Logger } from '../log.ts';
import { describeImdsFailure, nextImdsStep, statusOf, type ImdsFailure } from './imds-retry.ts';
import { sleep } from '../clock.ts';

export const DEFAULT_IMDS_ENDPOINT = 'http://169.254.169.254';
const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
const MAX_TOKEN_TTL_S = 21600;

export interface ImdsClientInput {
  log: Logger;
  /** Base URL; http://169.254.169.254 when unset. */
  endpoint?: string;
  /** Per-request connect and response timeout (default 2000 ms). */
  timeoutMs?: number;
  /** Retries after no answer or a 5xx (default 2), so a machine off EC2 fails fast. */
  retries?: number;
  /** First retry delay, doubled each time (default 100 ms). */
  retryDelayMs?: number;
  /** Token lifetime asked for, 1-21600 s (default 21600). */
  tokenTtlS?: number;
  /** Fetch a new token when fewer than this many seconds remain (default 60). */
  tokenRefreshMarginS?: number;
  /** Clock in ms, for tests of token refresh. */
  now?: () => number;
}

/** A metadata request that failed; `status` is the HTTP status, null when nothing answered. */
export class ImdsError extends IdentityError {
  override readonly code: string = 'IMDS';
  readonly status: number | null;
  constructor(message: string, status: number | null, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
}

interface CachedToken {
  value: string;
  refreshAt: number;
}

export class ImdsClient {
  readonly endpoint: string;
  private readonly url: URL;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly tokenTtlS: number;
  private readonly refreshMarginS: number;
  private readonly now: () => number;
  private readonly pathPrefix: string;
  private cached: CachedToken | undefined;
  private pending: Promise<string> | undefined;

  constructor(input: ImdsClientInput) {
    this.endpoint = (input.endpoint ?? DEFAULT_IMDS_ENDPOINT).replace(/\/+$/, '');
    this.log = input.log.child({ module: 'imds' });
    this.retries = input.retries ?? 2;
    this.retryDelayMs = input.retryDelayMs ?? 100;
    this.tokenTtlS = input.tokenTtlS ?? MAX_TOKEN_TTL_S;
    this.refreshMarginS = input.tokenRefreshMarginS ?? 60;
    this.now = input.now ?? Date.now;
    validateTokenTiming(this.tokenTtlS, this.refreshMarginS);
    let url: URL;
    try {
      url = new URL(this.endpoint);
    } catch (err) {
      throw new IdentityError(`metadata endpoint ${JSON.stringify(this.endpoint)} is not a URL`, { cause: err });
    }
    this.url = url;
    this.timeoutMs = input.timeoutMs ?? 2000;
    // GETs go to `pathname + path`, with exactly one slash before "latest/".
    this.pathPrefix = url.pathname.endsWith('/') ? `${url.pathname}latest/` : `${url.pathname}/latest/`;
  }

  /** The text at `path` (relative to /latest/, e.g. 'meta-data/instance-id'); ImdsError otherwise. */
  async get(path: string): Promise<string> {
    let transientFailures = 0;
    let reauthenticated = false;
    for (;;) {
      const attempt = await this.attempt(path);
      if ('value' in attempt) return attempt.value;
      const { failure, cause, token } = attempt;
      const step = nextImdsStep({
        failure, transientFailures, reauthenticated, retries: this.retries, retryDelayMs: this.retryDelayMs,
      });
      if (step.action === 'fail') {
        throw new ImdsError(`GET ${path}: ${describeImdsFailure(failure, this.endpoint)}`, failure.status, {
          cause: scrub(cause, token),
        });
      }
      if (step.freshToken) {
        reauthenticated = true;
        if (this.cached?.value === token) this.cached = undefined;
        this.log.warn({ path }, 'metadata service rejected the session token; fetching a new one');
      } else {
        transientFailures++;
        this.log.debug({ path, status: failure.status, delayMs: step.delayMs }, 'metadata request failed; retrying');
      }
      if (step.delayMs > 0) await sleep(step.delayMs);
    }
  }

  /** Like get(), but null when the path does not exist (404). */
  async getOrNull(path: string): Promise<string | null> {
    try {
      return await this.get(path);
    } catch (err) {
      if (err instanceof ImdsError && err.status === 404) return null;
      throw err;
    }
  }

  private async attempt(
    path: string,
  ): Promise<{ value: string } | { failure: ImdsFailure; cause: unknown; token: string | undefined }> {
    let token: string;
    try {
      token = await this.token();
    } catch (err) {
      return { failure: { stage: 'token', status: statusOf(err) }, cause: err, token: undefined };
    }
    try {
      const res = await this.exchange('GET', this.pathPrefix + path.replace(/^\/+/, ''), { [TOKEN_HEADER]: token });
      if (res.status !== 200) throw statusError(`Request failed with status code ${res.status}`, res.status);
      return { value: res.text };
    } catch (err) {
      return { failure: { stage: 'get', status: statusOf(err) }, cause: err, token };
    }
  }

  /** The cached token, or one fresh token shared by every caller waiting for it. */
  private token(): Promise<string> {
    if (this.cached && this.now() < this.cached.refreshAt) return Promise.resolve(this.cached.value);
    this.pending ??= this.fetchToken().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async fetchToken(): Promise<string> {
    // Count the lifetime from before the PUT, so our copy expires no later than the server's.
    const requestedAt = this.now();
    const res = await this.exchange('PUT', '/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': String(this.tokenTtlS) });
    if (res.status !== 200 || !res.text) throw statusError(`Failed to fetch metadata token with status code ${res.status}`, res.status);
    const value = res.text;
    this.cached = { value, refreshAt: requestedAt + (this.tokenTtlS - this.refreshMarginS) * 1000 };
    this.log.debug({ ttlS: this.tokenTtlS }, 'fetched a metadata session token');
    return value;
  }

  /**
   * One request and its whole answer within timeoutMs, on a connection of its own (a poller
   * piles up no idle sockets). Rejects without a status when nothing (complete) answered.
   */
  private exchange(method: 'GET' | 'PUT', path: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = (this.url.protocol === 'https:' ? https : http).request({
        hostname: this.url.hostname.replace(/^\[|\]$/g, ''), port: this.url.port || undefined, path, method,
        headers: { ...headers, connection: 'close' }, agent: false,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end();
    });
  }
}

/** An answer that is not the one wanted, with its status where statusOf() reads it. */
function statusError(message: string, status: number): Error {
  return Object.assign(new Error(message), { $metadata: { httpStatusCode: status } });
}

function validateTokenTiming(ttlS: number, marginS: number): void {
  if (!Number.isInteger(ttlS) || ttlS < 1 || ttlS > MAX_TOKEN_TTL_S) {
    throw new IdentityError(`metadata token TTL must be an integer from 1 to ${MAX_TOKEN_TTL_S} seconds, got ${ttlS}`);
  }
  if (!(marginS >= 0 && marginS < ttlS)) {
    throw new IdentityError(`metadata token refresh margin must be at least 0 and below the TTL (${ttlS} s), got ${marginS}`);
  }
}

/** The error, or a copy with the token blanked if its message somehow carries it. */
function scrub(err: unknown, token: string | undefined): unknown {
  if (!token || !(err instanceof Error) || !err.message.includes(token)) return err;
  return new Error(err.message.split(token).join('[redacted]'));
}
