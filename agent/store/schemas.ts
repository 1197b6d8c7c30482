// The documents herd keeps in the object store, as schemas. Everything read from the
// store is parsed through these before use: nothing from the store is trusted.
import { z } from 'zod';

/** Release ids, roles and instance ids become path segments and object keys. */
const SAFE_NAME = /^(?!\.)[A-Za-z0-9._-]+$/;
export const releaseIdSchema = z.string().max(128).regex(SAFE_NAME, 'must be 1-128 of [A-Za-z0-9._-], not starting with "."');
export const roleSchema = z.string().max(64).regex(SAFE_NAME, 'must be 1-64 of [A-Za-z0-9._-], not starting with "."');
export const instanceIdSchema = z.string().max(128).regex(SAFE_NAME, 'must be 1-128 of [A-Za-z0-9._-], not starting with "."');
export const digestSchema = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be "sha256:" and 64 lowercase hex digits');

const SIGNALS = [
  'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGKILL',
] as const;
export const signalSchema = z.enum(SIGNALS);
export type SignalName = z.infer<typeof signalSchema>;

/** `herd.json` at the root of a code directory: how to run the release. */
export const runSpecSchema = z.strictObject({
  command: z.array(z.string().min(1)).min(1, 'needs at least the program to run'),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'is not a valid variable name'), z.string()).optional(),
  port: z.number().int().min(1).max(65535),
  health: z.strictObject({
    path: z.string().startsWith('/', 'must start with "/"'),
    timeoutS: z.number().positive().max(3600).default(60),
  }),
  stopSignal: signalSchema.optional(),
  stopTimeoutS: z.number().positive().max(3600).optional(),
  reloadSignal: signalSchema.optional(),
});
export type RunSpec = z.infer<typeof runSpecSchema>;

export const blobRefSchema = z.strictObject({
  digest: digestSchema,
  size: z.number().int().nonnegative(),
});
export type BlobRef = z.infer<typeof blobRefSchema>;

export const RELEASE_SCHEMA = 'herd/release@1';
export const releaseManifestSchema = z.strictObject({
  schema: z.literal(RELEASE_SCHEMA),
  role: roleSchema,
  id: releaseIdSchema,
  createdAt: z.iso.datetime(),
  code: blobRefSchema,
  config: blobRefSchema.nullable(),
  run: runSpecSchema,
});
export type ReleaseManifest = z.infer<typeof releaseManifestSchema>;

export const CHANNEL_SCHEMA = 'herd/channel@1';
export const channelSchema = z.strictObject({
  schema: z.literal(CHANNEL_SCHEMA),
  role: roleSchema,
  release: releaseIdSchema,
  previous: releaseIdSchema.nullable(),
  rollout: z.strictObject({
    percent: z.number().int().min(0).max(100),
    waves: z.number().int().min(1).max(100),
    waveIntervalS: z.number().nonnegative(),
    startedAt: z.iso.datetime(),
  }),
  paused: z.boolean(),
  generation: z.number().int().min(1),
  updatedAt: z.iso.datetime(),
  updatedBy: z.string().max(256),
});
export type Channel = z.infer<typeof channelSchema>;

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
  release: releaseIdSchema.nullable(),
  desired: releaseIdSchema.nullable(),
  state: instanceStateSchema,
  healthy: z.boolean(),
  lastError: z.string().nullable(),
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
  size: z.number().int().positive(),
  /** What the executable says with --version, when it could be asked; null otherwise. */
  version: z.string().max(64).nullable(),
  publishedAt: z.iso.datetime(),
  publishedBy: z.string().max(256),
});
export type AgentPointer = z.infer<typeof agentPointerSchema>;
