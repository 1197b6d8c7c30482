// An IMDSv2-only metadata client: one session token, fetched with a PUT and reused
// until shortly before it expires; no request is ever sent without it (that is what
// "never v1" means). Wraps MetadataService from @aws-sdk/ec2-metadata-service.
import { MetadataService } from '@aws-sdk/ec2-metadata-service';
import { IdentityError } from '../errors.ts';
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
  private readonly service: MetadataService;
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
    // MetadataService sends `pathname + path`; keep exactly one slash before "latest/".
    this.pathPrefix = url.pathname.endsWith('/') ? 'latest/' : '/latest/';
    this.service = new MetadataService({
      endpoint: this.endpoint,
      httpOptions: { timeout: input.timeoutMs ?? 2000 },
      retries: 0,
      tokenTtl: this.tokenTtlS,
      // We attach our own cached token; request() must neither fetch one per call nor
      // refuse because of an AWS_EC2_METADATA_V1_DISABLED in the environment.
      disableFetchToken: true,
      ec2MetadataV1Disabled: false,
    });
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
      const value = await this.service.request(this.pathPrefix + path.replace(/^\/+/, ''), {
        method: 'GET',
        // MetadataService builds a new keep-alive agent per request that is never reused:
        // closing the connection keeps a poller from piling up idle sockets.
        headers: { [TOKEN_HEADER]: token, connection: 'close' },
      });
      return { value };
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
    const value = await this.service.fetchMetadataToken();
    this.cached = { value, refreshAt: requestedAt + (this.tokenTtlS - this.refreshMarginS) * 1000 };
    this.log.debug({ ttlS: this.tokenTtlS }, 'fetched a metadata session token');
    return value;
  }
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
