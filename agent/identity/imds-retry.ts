// The metadata client's retry policy as a pure function, so it can be read and tested
// as a table. The SDK's own retry loop is turned off: it retries a 401 with the same
// stale token and cannot tell a refused token PUT from a network failure.

/** One failed attempt: which step failed and the HTTP status, or null for no answer. */
export interface ImdsFailure {
  stage: 'token' | 'get';
  status: number | null;
}

export interface ImdsRetryInput {
  failure: ImdsFailure;
  /** Earlier attempts that failed without an answer or with a server error. */
  transientFailures: number;
  /** Whether this request already fetched a fresh token after a 401. */
  reauthenticated: boolean;
  retries: number;
  retryDelayMs: number;
}

export type ImdsRetryStep =
  | { action: 'fail' }
  | { action: 'retry'; delayMs: number; freshToken: boolean };

/** 401 on a GET: the token expired or was revoked, so fetch one fresh token, once.
 *  No answer, 429 or 5xx: retry with doubling delay up to `retries` times. Anything
 *  else (400, 403, 404, 405, a 401 on the token PUT) is an answer, not a fault: fail. */
export function nextImdsStep(input: ImdsRetryInput): ImdsRetryStep {
  const { failure } = input;
  if (failure.stage === 'get' && failure.status === 401) {
    return input.reauthenticated ? { action: 'fail' } : { action: 'retry', delayMs: 0, freshToken: true };
  }
  const transient = failure.status === null || failure.status === 429 || failure.status >= 500;
  if (!transient || input.transientFailures >= input.retries) return { action: 'fail' };
  return { action: 'retry', delayMs: input.retryDelayMs * 2 ** input.transientFailures, freshToken: false };
}

/** The HTTP status a metadata request's error carries, or null when
 *  there was no answer. The token PUT's errors keep the status only in their message. */
export function statusOf(err: unknown): number | null {
  if (typeof err !== 'object' || err === null) return null;
  const e = err as { $metadata?: { httpStatusCode?: unknown }; statusCode?: unknown; message?: unknown };
  const direct = e.$metadata?.httpStatusCode ?? e.statusCode;
  if (typeof direct === 'number') return direct;
  const match = typeof e.message === 'string' ? /status code (\d{3})\b/.exec(e.message) : null;
  return match ? Number(match[1]) : null;
}

/** One line saying what went wrong, for IdentityError messages (never the token). */
export function describeImdsFailure(failure: ImdsFailure, endpoint: string): string {
  const { stage, status } = failure;
  if (status === null) return `metadata service at ${endpoint} did not answer`;
  if (stage === 'token') {
    if (status === 403) return `metadata service at ${endpoint} refused a token (403: IMDS disabled, or the request was forwarded)`;
    if (status === 404 || status === 405) return `metadata service at ${endpoint} has no IMDSv2 token endpoint (${status})`;
    return `metadata service at ${endpoint} refused a token (${status})`;
  }
  if (status === 401) return `metadata service at ${endpoint} rejected the session token twice (401)`;
  return `metadata service at ${endpoint} answered ${status}`;
}
