// The agent's config: defaults, then the JSON file, then HERD_* environment variables,
// validated once into one frozen object. This is the only module that reads process.env.
import { readFileSync } from 'node:fs';
import * as z from './zod.ts';
import type { RefinementCtx } from './zod.ts';
import { ConfigError, UsageError } from './errors.ts';
import { parseFlags } from './flags.ts';
import { parseTrustedKey } from './signing/keys.ts';
import { roleSchema, instanceIdSchema } from './store/schemas.ts';
import { formatIssues, parseJson } from './validate.ts';

export const DEFAULT_CONFIG_FILE = '/etc/herd/agent.json';

/** reportHeartbeatS's default (chosen by npm run bench:scale; docs/scale.md). */
export const DEFAULT_REPORT_HEARTBEAT_S = 1800;

/** S3's naming rules for general purpose buckets, which is also what an ARN can name. */
export const bucketSchema = z.string().check(z.regex(
  /^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
  'must be an S3 bucket name: 3-63 of [a-z0-9.-], starting and ending with a letter or digit',
));

/** An S3 bucket (or S3-compatible store) source: what agents read and write, and what the operator commands take. */
export const sourceSchema = z.strictObject({
  bucket: bucketSchema,
  prefix: z.pipe(
    z._default(z.string().check(z.regex(/^[A-Za-z0-9._\-/]*$/, 'may hold only [A-Za-z0-9._-/]')), 'herd'),
    z.transform((p: string) => p.replace(/^\/+|\/+$/g, '')),
  ),
  region: z.optional(z.string().check(z.minLength(1))),
  endpoint: z.optional(z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })),
  forcePathStyle: z.optional(z.boolean()),
});
export type SourceConfig = z.infer<typeof sourceSchema>;

/**
 * An HTTP(S) source: a base URL serving the store's layout read-only (a CDN in front of the
 * bucket, a static file server). It is named in logs and /status, so it must carry no secret.
 */
export const httpSourceSchema = z.strictObject({
  url: z.pipe(
    z.url({ protocol: /^https?$/, error: 'must be an absolute http:// or https:// URL' }).check(z.superRefine(checkSourceUrl)),
    z.transform((u: string) => u.replace(/\/+$/, '')),
  ),
});
export type HttpSourceConfig = z.infer<typeof httpSourceSchema>;

/** A source an agent reads: a bucket, or a URL. */
export const agentSourceSchema = z.union([sourceSchema, httpSourceSchema], {
  error: 'must be a bucket source {"bucket": ...} or an HTTP(S) source {"url": ...}, not both',
});
export type AgentSourceConfig = SourceConfig | HttpSourceConfig;

export function isHttpSource(source: AgentSourceConfig): source is HttpSourceConfig {
  return 'url' in source;
}

/** No credentials (they would be logged), no query or fragment (object keys are appended to the path). */
function checkSourceUrl(value: string, ctx: RefinementCtx<string>): void {
  if (!URL.canParse(value)) return;
  const url = new URL(value);
  if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'must not carry credentials (user:password@): the URL is logged' });
  if (/[?#]/.test(value)) ctx.addIssue({ code: 'custom', message: 'must have no query (?) or fragment (#): object keys are appended to its path' });
}

const identitySchema = z.discriminatedUnion('provider', [
  z.strictObject({
    provider: z.literal('imds'),
    roleTag: z._default(z.string().check(z.minLength(1), z.maxLength(128)), 'herd:role'),
    endpoint: z.optional(z.url()),
    timeoutMs: z._default(z.int().check(z.positive()), 2000),
  }),
  z.strictObject({
    provider: z.literal('static'),
    instanceId: instanceIdSchema,
    role: roleSchema,
    az: z._default(z.string().check(z.minLength(1)), 'local'),
    region: z._default(z.string().check(z.minLength(1)), 'local'),
  }),
]);

const port = z.int().check(z.minimum(1), z.maximum(65535));
/** A lifecycle hook's name, as Auto Scaling allows it. */
const hookName = z.string().check(z.regex(/^[A-Za-z0-9\-_/]{1,255}$/, 'must be a lifecycle hook name: 1-255 of A-Z a-z 0-9 - _ /'));

/** A trustedKeys entry must parse now, so a typo is a config error at start, not a refused release later. */
function checkTrustedKey(value: string, ctx: RefinementCtx<string>): void {
  try {
    parseTrustedKey(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
}

export const agentConfigSchema = z.strictObject({
  sources: z.array(agentSourceSchema).check(z.minLength(1, 'needs at least one source')),
  dataDir: z._default(z.string().check(z.startsWith('/', 'must be an absolute path')), '/var/lib/herd'),
  healthPort: z._default(port, 9787),
  healthHost: z._default(z.string().check(z.minLength(1)), '0.0.0.0'),
  appPort: z.optional(port),
  pollIntervalS: z._default(z.number().check(z.positive()), 10),
  drainS: z._default(z.number().check(z.nonnegative()), 15),
  /**
   * How often an idle instance rewrites its report (it also writes on every change). Rare, because
   * report writes are most of a fleet's store bill (docs/scale.md); `herd status` flags a report
   * older than three of these as stale.
   */
  reportHeartbeatS: z._default(z.number().check(z.minimum(1)), DEFAULT_REPORT_HEARTBEAT_S),
  /** How often instance metadata is asked for spot and Auto Scaling termination notices (imds identity only). */
  noticePollS: z._default(z.number().check(z.positive()), 5),
  keepReleases: z._default(z.int().check(z.minimum(1)), 3),
  appUser: z._default(z.nullable(z.string().check(z.minLength(1))), 'app'),
  /** Public keys that may sign releases (agent/signing/keys.ts); empty: unsigned releases run. */
  trustedKeys: z._default(z.array(z.string().check(z.minLength(1), z.superRefine(checkTrustedKey))), []),
  limits: z.prefault(z.strictObject({
    maxBundleBytes: z._default(z.int().check(z.positive()), 1024 ** 3),
    maxUnpackedBytes: z._default(z.int().check(z.positive()), 4 * 1024 ** 3),
    maxEntries: z._default(z.int().check(z.positive()), 100_000),
  }), {}),
  identity: z.prefault(identitySchema, { provider: 'imds' }),
  /**
   * Auto Scaling lifecycle hooks the agent completes (agent/lifecycle/auto-scaling.ts): the
   * launch hook once the first release passes its health gate (ABANDON when none can), the
   * terminate hook once the app has stopped.
   */
  autoScaling: z.prefault(z.strictObject({
    launchHook: z.optional(hookName),
    terminateHook: z.optional(hookName),
  }), {}),
  logLevel: z._default(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info'),
});

type Deep<T> = { readonly [K in keyof T]: T[K] extends object ? Deep<T[K]> : T[K] };
export type AgentConfig = Deep<z.infer<typeof agentConfigSchema>>;
export type IdentityConfig = AgentConfig['identity'];

/** HERD_* variables: scalars by name, objects and arrays as JSON. */
const ENV_KEYS: Record<string, { key: string; kind: 'string' | 'number' | 'json' | 'nullable' }> = {
  HERD_SOURCES: { key: 'sources', kind: 'json' },
  HERD_DATA_DIR: { key: 'dataDir', kind: 'string' },
  HERD_HEALTH_PORT: { key: 'healthPort', kind: 'number' },
  HERD_HEALTH_HOST: { key: 'healthHost', kind: 'string' },
  HERD_APP_PORT: { key: 'appPort', kind: 'number' },
  HERD_POLL_INTERVAL_S: { key: 'pollIntervalS', kind: 'number' },
  HERD_DRAIN_S: { key: 'drainS', kind: 'number' },
  HERD_REPORT_HEARTBEAT_S: { key: 'reportHeartbeatS', kind: 'number' },
  HERD_KEEP_RELEASES: { key: 'keepReleases', kind: 'number' },
  HERD_APP_USER: { key: 'appUser', kind: 'nullable' },
  HERD_TRUSTED_KEYS: { key: 'trustedKeys', kind: 'json' },
  HERD_LIMITS: { key: 'limits', kind: 'json' },
  HERD_IDENTITY: { key: 'identity', kind: 'json' },
  HERD_LOG_LEVEL: { key: 'logLevel', kind: 'string' },
};

/** Pure: overlay HERD_* variables on the file's object. */
export function applyEnvOverrides(base: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [name, { key, kind }] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    if (kind === 'number') {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new ConfigError(`${name}: "${raw}" is not a number`);
      out[key] = n;
    } else if (kind === 'json') {
      out[key] = parseJson(raw, name, (m, cause) => new ConfigError(m, { cause }));
    } else if (kind === 'nullable') {
      out[key] = raw === 'none' ? null : raw;
    } else {
      out[key] = raw;
    }
  }
  // The SDK's own variable for a non-default metadata endpoint applies to identity too.
  const imdsEndpoint = env.AWS_EC2_METADATA_SERVICE_ENDPOINT;
  if (imdsEndpoint) {
    const identity = (out.identity ?? { provider: 'imds' }) as Record<string, unknown>;
    if ((identity.provider ?? 'imds') === 'imds' && identity.endpoint === undefined) {
      out.identity = { provider: 'imds', ...identity, endpoint: imdsEndpoint };
    }
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Pure: validate a raw object into the frozen config, or throw ConfigError naming the key. */
export function buildConfig(raw: unknown, where: string): AgentConfig {
  const result = agentConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(where, result.error));
  return deepFreeze(result.data) as AgentConfig;
}

export interface LoadConfigInput {
  /** Path given with --config; when absent the default file is optional if HERD_SOURCES is set. */
  file?: string;
  env?: Readonly<Record<string, string | undefined>>;
}

/** The config file in force: --config, else HERD_CONFIG, else the default. */
export function configFilePath(file?: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  return file ?? env.HERD_CONFIG ?? DEFAULT_CONFIG_FILE;
}

export function loadConfig(input: LoadConfigInput = {}): AgentConfig {
  const env = input.env ?? process.env;
  const file = configFilePath(input.file, env);
  let fromFile: Record<string, unknown> = {};
  try {
    const text = readFileSync(file, 'utf8');
    const parsed = parseJson(text, file, (m, cause) => new ConfigError(m, { cause }));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`${file}: must be a JSON object`);
    fromFile = parsed as Record<string, unknown>;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    const explicit = input.file !== undefined || env.HERD_CONFIG !== undefined;
    if (!missing) throw err instanceof ConfigError ? err : new ConfigError(`${file}: cannot read (${(err as Error).message})`, { cause: err });
    if (explicit || !env.HERD_SOURCES) throw new ConfigError(`${file}: no such file (give --config FILE, or set HERD_SOURCES)`, { cause: err });
  }
  return buildConfig(applyEnvOverrides(fromFile, env), file);
}

/** Where the CLI commands (not the agent) find the store: flags first, then the standard AWS variables. */
export interface StoreFlags {
  bucket?: string;
  prefix?: string;
  region?: string;
  endpoint?: string;
  pathStyle?: boolean;
}

/** The source a CLI command uses; a bad value is a UsageError naming the flag or variable it came from. */
export function sourceFromFlags(flags: StoreFlags, env: Readonly<Record<string, string | undefined>> = process.env): SourceConfig {
  const names: Record<string, string> = {};
  const pick = (key: string, flag: string | undefined, vars: string[]): string | undefined => {
    if (flag !== undefined) return flag;
    const name = vars.find((v) => env[v] !== undefined);
    if (name) names[key] = name;
    return name ? env[name] : undefined;
  };
  const raw = {
    bucket: pick('bucket', flags.bucket, ['HERD_BUCKET']),
    prefix: pick('prefix', flags.prefix, ['HERD_PREFIX']),
    region: pick('region', flags.region, ['AWS_REGION', 'AWS_DEFAULT_REGION']),
    endpoint: pick('endpoint', flags.endpoint, ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL']),
    forcePathStyle: flags.pathStyle,
  };
  if (!raw.bucket) throw new ConfigError('--bucket is required (or set HERD_BUCKET)');
  return deepFreeze(parseFlags(sourceSchema, raw, names));
}

/** `herd pull`'s source: --url, an HTTP(S) source, or else the bucket from the store flags. */
export function agentSourceFromFlags(flags: StoreFlags & { url?: string }, env: Readonly<Record<string, string | undefined>> = process.env): AgentSourceConfig {
  if (flags.url === undefined) return sourceFromFlags(flags, env);
  const bucketFlags = (['bucket', 'prefix', 'region', 'endpoint', 'pathStyle'] as const).filter((k) => flags[k] !== undefined);
  if (bucketFlags.length > 0) throw new UsageError(`--url names the whole source: give it without --${bucketFlags.map((k) => (k === 'pathStyle' ? 'path-style' : k)).join(', --')}`);
  return deepFreeze(parseFlags(httpSourceSchema, { url: flags.url }));
}
