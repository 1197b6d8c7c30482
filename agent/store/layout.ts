// Object keys under a source's prefix (docs/store-layout.md). Pure.
import { isHttpSource, type AgentSourceConfig } from '../config.ts';

export interface Layout {
  blob(digest: string): string;
  manifest(role: string, releaseId: string): string;
  /** The detached signature of a manifest (agent/signing/signature.ts), next to it. */
  signature(role: string, releaseId: string): string;
  releasesPrefix(role: string): string;
  /** Where every role's objects live: roles/<role>/... */
  rolesPrefix(): string;
  channel(role: string): string;
  /** The detached signature of the channel, next to it (signed channels). */
  channelSignature(role: string): string;
  report(role: string, instanceId: string): string;
  reportsPrefix(role: string): string;
  /** A failure marker: `release` failed on `instanceId` (agent/rollout/halt.ts). */
  failure(role: string, releaseId: string, instanceId: string): string;
  failuresPrefix(role: string, releaseId: string): string;
  /** The herd executable itself, content-addressed (herd publish-agent; docs/image.md). */
  agentExecutable(digest: string): string;
  /** Which executable `herd publish-agent` published last: what `herd user-data` pins by default. */
  agentPointer(): string;
}

export function layoutFor(prefix: string): Layout {
  const base = prefix ? `${prefix}/` : '';
  return {
    blob: (digest) => `${base}blobs/sha256/${hexOf(digest)}`,
    manifest: (role, id) => `${base}roles/${role}/releases/${id}.json`,
    signature: (role, id) => `${base}roles/${role}/releases/${id}.json.sig`,
    releasesPrefix: (role) => `${base}roles/${role}/releases/`,
    rolesPrefix: () => `${base}roles/`,
    channel: (role) => `${base}roles/${role}/channel.json`,
    channelSignature: (role) => `${base}roles/${role}/channel.json.sig`,
    report: (role, instanceId) => `${base}roles/${role}/instances/${instanceId}.json`,
    reportsPrefix: (role) => `${base}roles/${role}/instances/`,
    failure: (role, id, instanceId) => `${base}roles/${role}/failures/${id}/${instanceId}.json`,
    failuresPrefix: (role, id) => `${base}roles/${role}/failures/${id}/`,
    agentExecutable: (digest) => `${base}agent/sha256/${hexOf(digest)}`,
    agentPointer: () => `${base}agent/linux-x64.json`,
  };
}

export function hexOf(digest: string): string {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`not a sha256 digest: ${digest}`);
  return digest.slice('sha256:'.length);
}

/** How a source is named in logs, errors and /status: s3://bucket/prefix (endpoint), or its URL. */
export function describeSource(source: AgentSourceConfig): string {
  if (isHttpSource(source)) return source.url.replace(/\/+$/, '');
  const where = `s3://${source.bucket}/${source.prefix}`;
  return source.endpoint ? `${where} (${source.endpoint})` : where;
}
