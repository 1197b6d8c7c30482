// What the fleet simulation (npm run bench:scale) measures against: list prices and documented
// request-rate limits of each kind of source, and the arithmetic from request counts to
// requests and dollars per instance-month. Pure. Sources (checked 2026; us-east-1 list prices):
// - S3 Standard: GET $0.0004 and PUT (and COPY, POST, LIST) $0.005 per 1,000
//   (aws.amazon.com/s3/pricing); a 304 is billed as a GET. A LIST reads a prefix: its rate is
//   counted with the GETs against that prefix. At least 3,500 PUT/COPY/POST/DELETE and 5,500 GET/HEAD per second per
//   partitioned prefix, reached by gradual scaling (docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html).
// - S3 Express One Zone (directory buckets): GET $0.00003 and PUT $0.00113 per 1,000, plus
//   $0.0006 per GB retrieved and $0.0032 per GB uploaded (worked examples in aws.amazon.com/s3/faqs,
//   "S3 Express One Zone"); by default 200,000 reads and 100,000 writes per second per directory
//   bucket, with no per-prefix limit (userguide/s3-express-performance.html,
//   s3-express-optimizing-performance-design-patterns.html). Requests are signed with a
//   CreateSession credential that lasts 5 minutes (API_CreateSession.html); no price for
//   CreateSession is published, so it is counted here at the PUT price, the dearer assumption;
//   a LIST too.
// - A CDN in front (CloudFront, pay as you go, United States): $0.0100 per 10,000 HTTPS requests
//   ($0.0075 for plain HTTP; aws.amazon.com/cloudfront/pricing, HTTPS dearer than HTTP per
//   docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/HTTPandHTTPSRequests.html);
//   origin fetches from S3 are free, and no per-key limit matters here.

export type StoreType = 'standard' | 'express' | 'cdn';
export type RequestKind = 'get' | 'put' | 'list' | 'session';

export interface StorePrice {
  /** Dollars per request, by kind. */
  perRequest: Record<RequestKind, number>;
  /** Dollars per GB (2^30 bytes) of request bodies uploaded, and of response bodies retrieved. */
  perGbUp: number;
  perGbDown: number;
}

export const PRICES: Readonly<Record<StoreType, StorePrice>> = {
  standard: { perRequest: { get: 0.0004 / 1000, put: 0.005 / 1000, list: 0.005 / 1000, session: 0 }, perGbUp: 0, perGbDown: 0 },
  express: { perRequest: { get: 0.00003 / 1000, put: 0.00113 / 1000, list: 0.00113 / 1000, session: 0.00113 / 1000 }, perGbUp: 0.0032, perGbDown: 0.0006 },
  cdn: { perRequest: { get: 0.01 / 10_000, put: 0, list: 0, session: 0 }, perGbUp: 0, perGbDown: 0 },
};

export interface StoreLimit {
  /** What one limit covers: a partitioned prefix (general purpose buckets), the whole bucket, or nothing that matters. */
  scope: 'prefix' | 'bucket' | null;
  getPerS: number;
  putPerS: number;
}

export const LIMITS: Readonly<Record<StoreType, StoreLimit>> = {
  standard: { scope: 'prefix', getPerS: 5_500, putPerS: 3_500 },
  express: { scope: 'bucket', getPerS: 200_000, putPerS: 100_000 },
  cdn: { scope: null, getPerS: Infinity, putPerS: Infinity },
};

/** AWS bills a month as 730 hours. */
export const SECONDS_PER_MONTH = 730 * 3600;
const GB = 1024 ** 3;

/** Requests of one kind to one type of source over a window, for the whole fleet. */
export interface RequestCount {
  type: StoreType;
  kind: RequestKind;
  n: number;
  /** Body bytes: uploaded for a put, downloaded for a get. */
  bytes: number;
}

/** Pure: what `n` requests carrying `bytes` cost. */
export function requestCost(c: RequestCount): number {
  const price = PRICES[c.type];
  const perGb = c.kind === 'put' ? price.perGbUp : price.perGbDown;
  return c.n * price.perRequest[c.kind] + (c.bytes / GB) * perGb;
}

export interface MonthRow { type: StoreType; kind: RequestKind; requests: number; dollars: number }

/** Pure: counts over `windowS` seconds for `instances` instances, as requests and dollars per instance-month. */
export function perInstanceMonth(counts: readonly RequestCount[], instances: number, windowS: number): { rows: MonthRow[]; requests: number; dollars: number } {
  const scale = SECONDS_PER_MONTH / windowS / instances;
  const rows = counts.map((c) => ({ type: c.type, kind: c.kind, requests: c.n * scale, dollars: requestCost(c) * scale }));
  return { rows, requests: rows.reduce((a, r) => a + r.requests, 0), dollars: rows.reduce((a, r) => a + r.dollars, 0) };
}

/** Pure: the limit for `method` at a source of `type`, per its scope. */
export function limitFor(type: StoreType, method: 'GET' | 'PUT'): number {
  return method === 'GET' ? LIMITS[type].getPerS : LIMITS[type].putPerS;
}
