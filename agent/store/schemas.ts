// The documents herd keeps in the object store, as schemas. Everything read from the
// store is parsed through these before use: nothing from the store is trusted.
import * as z from '../zod.ts';

/** Release ids, roles and instance ids become path segments and object keys. */
const SAFE_NAME = /^(?!\.)[A-Za-z0-9._-]+$/;
export const releaseIdSchema = z.string().check(z.maxLength(128), z.regex(SAFE_NAME, 'must be 1-128 of [A-Za-z0-9._-], not starting with "."'));
export const roleSchema = z.string().check(z.maxLength(64), z.regex(SAFE_NAME, 'must be 1-64 of [A-Za-z0-9._-], not starting with "."'));
export const instanceIdSchema = z.string().check(z.maxLength(128), z.regex(SAFE_NAME, 'must be 1-128 of [A-Za-z0-9._-], not starting with "."'));
export const digestSchema = z.string().check(z.regex(/^sha256:[0-9a-f]{64}$/, 'must be "sha256:" and 64 lowercase hex digits'));

const SIGNALS = [
  'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGKILL',
] as const;
export const signalSchema = z.enum(SIGNALS);
export type SignalName = z.infer<typeof signalSchema>;

/** `herd.json` at the root of a code directory: how to run the release. */
export const runSpecSchema = z.strictObject({
  command: z.array(z.string().check(z.minLength(1))).check(z.minLength(1, 'needs at least the program to run')),
  env: z.optional(z.record(z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'is not a valid variable name')), z.string())),
  port: z.int().check(z.minimum(1), z.maximum(65535)),
  health: z.strictObject({
    path: z.string().check(z.startsWith('/', 'must start with "/"')),
    timeoutS: z._default(z.number().check(z.positive(), z.maximum(3600)), 60),
  }),
  stopSignal: z.optional(signalSchema),
  stopTimeoutS: z.optional(z.number().check(z.positive(), z.maximum(3600))),
  reloadSignal: z.optional(signalSchema),
});
export type RunSpec = z.infer<typeof runSpecSchema>;

export const blobRefSchema = z.strictObject({
  digest: digestSchema,
  size: z.int().check(z.nonnegative()),
});
export type BlobRef = z.infer<typeof blobRefSchema>;

export const RELEASE_SCHEMA = 'herd/release@1';
export const releaseManifestSchema = z.strictObject({
  schema: z.literal(RELEASE_SCHEMA),
  role: roleSchema,
  id: releaseIdSchema,
  createdAt: z.iso.datetime(),
  code: blobRefSchema,
  config: z.nullable(blobRefSchema),
  run: runSpecSchema,
});
export type ReleaseManifest = z.infer<typeof releaseManifestSchema>;

export const CHANNEL_SCHEMA = 'herd/channel@1';
export const channelSchema = z.strictObject({
  schema: z.literal(CHANNEL_SCHEMA),
  role: roleSchema,
  release: releaseIdSchema,
  previous: z.nullable(releaseIdSchema),
  rollout: z.strictObject({
    percent: z.int().check(z.minimum(0), z.maximum(100)),
    waves: z.int().check(z.minimum(1), z.maximum(100)),
    waveIntervalS: z.number().check(z.nonnegative()),
    startedAt: z.iso.datetime(),
    /** Instances that may fail this release (gate or crash loop) before the rollout halts; absent: 1 (agent/rollout/halt.ts). */
    maxFailures: z.optional(z.int().check(z.minimum(1), z.maximum(100_000))),
  }),
  paused: z.boolean(),
  generation: z.int().check(z.minimum(1)),
  updatedAt: z.iso.datetime(),
  updatedBy: z.string().check(z.maxLength(256)),
  /** Set on a signed channel: agents with trustedKeys refuse it after this time (a freeze). */
  expiresAt: z.optional(z.iso.datetime()),
});
export type Channel = z.infer<typeof channelSchema>;

/**
 * `roles/<role>/failures/<release>/<instance-id>.json`: the release failed its health gate or
 * crash-looped on that instance, for that channel generation. Agents count them to halt a
 * rollout (agent/rollout/halt.ts); `herd status` and `roll --wait` show them.
 */
export const FAILURE_SCHEMA = 'herd/failure@1';
export const failureMarkerSchema = z.strictObject({
  schema: z.literal(FAILURE_SCHEMA),
  instanceId: instanceIdSchema,
  release: releaseIdSchema,
  generation: z.int().check(z.minimum(1)),
  reason: z.string().check(z.maxLength(2048)),
  at: z.iso.datetime(),
});
export type FailureMarker = z.infer<typeof failureMarkerSchema>;

export const INSTANCE_SCHEMA = 'herd/instance@1';
export const instanceStateSchema = z.enum([
  'booting', 'fetching', 'starting', 'running', 'draining', 'stopping', 'crash-loop', 'failed', 'stopped',
]);
export type InstanceState = z.infer<typeof instanceStateSchema>;

export const instanceReportSchema = z.strictObject({
  schema: z.literal(INSTANCE_SCHEMA),
  instanceId: instanceIdSchema,
  role: roleSchema,
  az: z.string(),
  region: z.string(),
  release: z.nullable(releaseIdSchema),
  desired: z.nullable(releaseIdSchema),
  state: instanceStateSchema,
  healthy: z.boolean(),
  lastError: z.nullable(z.string()),
  failedReleases: z.array(releaseIdSchema),
  agentVersion: z.string(),
  updatedAt: z.iso.datetime(),
});
export type InstanceReport = z.infer<typeof instanceReportSchema>;

/** `agent/linux-x64.json`: the herd executable `herd publish-agent` published last. */
export const AGENT_SCHEMA = 'herd/agent@1';
export const agentPointerSchema = z.strictObject({
  schema: z.literal(AGENT_SCHEMA),
  platform: z.literal('linux-x64'),
  digest: digestSchema,
  size: z.int().check(z.positive()),
  /** What the executable says with --version, when it could be asked; null otherwise. */
  version: z.nullable(z.string().check(z.maxLength(64))),
  publishedAt: z.iso.datetime(),
  publishedBy: z.string().check(z.maxLength(256)),
});
export type AgentPointer = z.infer<typeof agentPointerSchema>;
