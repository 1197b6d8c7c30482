// What a bad command-line flag gets: one sentence about the value as the user typed it,
// naming the flag and what it takes, e.g. `--bucket "ab" is not a bucket name: 3-63 ...`.
// The table below is the one mapping from a zod issue path (a schema key) to a flag.
import type * as z from './zod.ts';
import { UsageError } from './errors.ts';

interface Flag {
  flag: string;
  /** What a good value is ("a role"); without it the sentence reads "--flag VALUE: takes ...". */
  noun?: string;
  accepts: string;
}

const BUCKET = '3-63 characters, lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit';
const NAME = 'of A-Z a-z 0-9 . _ -, not starting with "."';

const FLAGS = {
  bucket: { flag: '--bucket', noun: 'a bucket name', accepts: BUCKET },
  replicaBuckets: { flag: '--replica-bucket', noun: 'a bucket name', accepts: BUCKET },
  prefix: { flag: '--prefix', noun: 'a key prefix', accepts: 'letters, digits, . _ - and /' },
  region: { flag: '--region', noun: 'a region', accepts: 'a name such as us-east-1' },
  endpoint: { flag: '--endpoint', noun: 'an endpoint', accepts: 'an http:// or https:// URL, e.g. http://127.0.0.1:4569' },
  url: { flag: '--url', noun: 'a source URL', accepts: 'an absolute http:// or https:// URL without user:password, query or fragment, e.g. https://cdn.example.com/herd' },
  role: { flag: '--role', noun: 'a role', accepts: `1-64 ${NAME}` },
  release: { flag: '--release', noun: 'a release id', accepts: `1-128 ${NAME}` },
  percent: { flag: '--percent', accepts: 'a whole number from 0 to 100' },
  waves: { flag: '--waves', accepts: 'a whole number from 1 to 100' },
  waveIntervalS: { flag: '--wave-interval', accepts: 'a number of seconds, 0 or more' },
  generation: { flag: '--generation', accepts: 'a whole number above the channel\'s generation' },
  staleAfterS: { flag: '--stale-after', accepts: 'a number of seconds above 0' },
  maxFailures: { flag: '--max-failures', accepts: 'a whole number from 1 to 100000' },
  timeoutS: { flag: '--timeout', accepts: 'a number of seconds above 0' },
  exitAfterS: { flag: '--exit-after', accepts: 'a number of seconds' },
  which: { flag: '--which', noun: 'a policy choice', accepts: 'instance, publisher, both, image or all' },
  partition: { flag: '--partition', noun: 'an ARN partition', accepts: 'aws, aws-cn or aws-us-gov' },
  autoScalingGroup: { flag: '--auto-scaling-group', noun: 'an Auto Scaling group name', accepts: '1-255 characters without ":" or "*", or "*" for any' },
  sha256: { flag: '--sha256', noun: 'a sha256', accepts: '64 hex digits, as herd publish-agent prints' },
  toBucket: { flag: '--to-bucket', noun: 'a bucket name', accepts: BUCKET },
  toPrefix: { flag: '--to-prefix', noun: 'a key prefix', accepts: 'letters, digits, . _ - and /' },
  toRegion: { flag: '--to-region', noun: 'a region', accepts: 'a name such as us-east-1' },
  toEndpoint: { flag: '--to-endpoint', noun: 'an endpoint', accepts: 'an http:// or https:// URL, e.g. http://127.0.0.1:4569' },
  intervalS: { flag: '--interval', accepts: 'a number of seconds above 0' },
  expiresInS: { flag: '--expires-in', accepts: 'a duration from 1s to 366d: a number with s, m, h or d (7d, 36h, 90m), or seconds' },
  trustedKey: { flag: '--trusted-key', noun: 'a public key', accepts: 'the line herd keygen prints, base64 SPKI DER, or the PEM of the .pub file' },
  logLevel: { flag: '--log-level', noun: 'a log level', accepts: 'fatal, error, warn, info, debug, trace or silent' },
} satisfies Record<string, Flag>;

export type FlagKey = keyof typeof FLAGS;

/** Pure: the sentence for a bad `value` of the flag `key`; `name` says where it came from when not the flag (HERD_BUCKET). */
export function flagSentence(key: FlagKey, value: unknown, name?: string): string {
  const spec: Flag = (FLAGS as Record<string, Flag>)[key] ?? { flag: key, accepts: 'another value' };
  const as = name ?? spec.flag;
  if (value === undefined) return `${as} is missing: it takes ${spec.noun ? `${spec.noun}, ` : ''}${spec.accepts}`;
  if (spec.noun) return `${as} ${JSON.stringify(value)} is not ${spec.noun}: ${spec.accepts}`;
  return `${as} ${typeof value === 'string' ? value : JSON.stringify(value)}: takes ${spec.accepts}`;
}

/**
 * Parse flag values (keyed as in the table) with `schema`, or throw UsageError (exit 2)
 * with one sentence per bad flag. `names` renames a value that came from elsewhere.
 */
export function parseFlags<S extends z.ZodMiniType>(schema: S, values: Record<string, unknown>, names: Record<string, string> = {}): z.infer<S> {
  const result = schema.safeParse(values);
  if (result.success) return result.data;
  const sentences = new Set<string>();
  for (const issue of result.error.issues) {
    const [key, index] = issue.path;
    if (typeof key !== 'string') {
      sentences.add(issue.message);
      continue;
    }
    const value = typeof index === 'number' && Array.isArray(values[key]) ? (values[key] as unknown[])[index] : values[key];
    sentences.add(flagSentence(key as FlagKey, value, names[key]));
  }
  throw new UsageError([...sentences].join('; '));
}

/** One flag's value parsed with `schema`, or UsageError with its sentence. */
export function parseFlag<S extends z.ZodMiniType>(key: FlagKey, schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new UsageError(flagSentence(key, value));
  return result.data;
}

/** A commander parser for a numeric flag: the number typed, or UsageError when it is not one. */
export function numberFlag(key: FlagKey): (raw: string) => number {
  return (raw) => {
    if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(raw.trim())) throw new UsageError(flagSentence(key, raw));
    return Number(raw);
  };
}

const DURATION_UNITS_S = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** A commander parser for a duration flag: seconds, from "7d", "36h", "90m", "45s" or "3600"; UsageError outside [1 s, maxS]. */
export function durationFlag(key: FlagKey, maxS: number): (raw: string) => number {
  return (raw) => {
    const match = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(raw.trim());
    const seconds = match ? Number(match[1]) * DURATION_UNITS_S[(match[2] || 's') as keyof typeof DURATION_UNITS_S] : NaN;
    if (!(seconds >= 1 && seconds <= maxS)) throw new UsageError(flagSentence(key, raw));
    return seconds;
  };
}
