// The object-store protocol for one source: channel, manifests, blobs and reports.
// Every document read is parsed through its schema; every failure becomes a StoreError
// (or NotFoundError / ConflictError) naming the object. Objects move through a transport
// (transport.ts): the agent's own S3 client, an SDK client when one is given, or plain GETs
// for an HTTP(S) source, which is read-only.
import type { Readable } from 'node:stream';
import { ConflictError, IntegrityError, NotFoundError, StoreError } from '../errors.ts';
import { parseJson, parseWith } from '../validate.ts';
import { readDocument, readDocumentBytes } from './read-document.ts';
import {
  agentPointerSchema, channelSchema, failureMarkerSchema, instanceReportSchema, releaseManifestSchema,
  type AgentPointer, type Channel, type FailureMarker, type InstanceReport, type ReleaseManifest,
} from './schemas.ts';
import { encodeDocument, integrity, StoredObjects } from './stored-objects.ts';
import { isNotFound, statusOf, type ObjectVersion } from './transport.ts';

export type { ObjectStoreInput } from './stored-objects.ts';

export type ChannelRead =
  /** `bytes`: the channel exactly as stored, which a signature covers. */
  | { kind: 'found'; channel: Channel; bytes: Buffer; etag: string | null; lastModified: string | null }
  | { kind: 'not-modified' }
  | { kind: 'missing' };

export class ObjectStore extends StoredObjects {
  /** Reads the role's channel; `since` the version read last, an unchanged channel costs a 304 and no body. */
  async getChannel(role: string, since?: ObjectVersion | null): Promise<ChannelRead> {
    const key = this.layout.channel(role);
    try {
      const read = await this.withinDeadline(key, async (signal) => {
        const out = await this.transport.get(key, { since, signal });
        return out && { bytes: await readDocumentBytes(out.body, key), etag: out.etag, lastModified: out.lastModified };
      });
      if (!read) return { kind: 'not-modified' };
      const channel = parseWith(channelSchema, parseJson(read.bytes.toString('utf8'), key, integrity), key, integrity);
      if (channel.role !== role) throw new IntegrityError(`${key}: names role "${channel.role}", expected "${role}"`);
      return { kind: 'found', channel, bytes: read.bytes, etag: read.etag, lastModified: read.lastModified };
    } catch (err) {
      if (statusOf(err) === 304) return { kind: 'not-modified' };
      if (isNotFound(err)) return { kind: 'missing' };
      throw this.wrap(err, 'read', key);
    }
  }

  /**
   * Writes the channel. `ifMatch` (an ETag) or `ifNoneMatch` makes the write conditional
   * where the store supports it, so two operators never silently overwrite each other.
   */
  async putChannel(channel: Channel, cond: WriteCondition = {}): Promise<void> {
    await this.putChannelBytes(channel.role, encodeDocument(channel), cond);
  }

  /** Writes the channel's exact bytes (a signature covers them; herd mirror copies them as they are). */
  async putChannelBytes(role: string, bytes: Buffer, cond: WriteCondition = {}): Promise<void> {
    await this.putBytes(this.layout.channel(role), bytes, 'application/json', conditionHeaders(cond));
  }

  /** The channel's detached signature object as stored, with its ETag, or null when the channel is unsigned. */
  async getChannelSignature(role: string): Promise<{ bytes: Buffer; etag: string | null } | null> {
    const key = this.layout.channelSignature(role);
    try {
      return await this.withinDeadline(key, async (signal) => {
        const out = await this.transport.get(key, { signal });
        return { bytes: await readDocumentBytes(out?.body, key), etag: out?.etag ?? null };
      });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.wrap(err, 'read', key);
    }
  }

  /** Writes the channel's signature object, conditional like the channel itself; resolves with its new ETag. */
  async putChannelSignature(role: string, bytes: Buffer, cond: WriteCondition = {}): Promise<string | null> {
    return this.putBytes(this.layout.channelSignature(role), bytes, 'application/json', conditionHeaders(cond));
  }

  /** The manifest and its exact bytes (a signature covers the bytes). */
  async getManifest(role: string, releaseId: string): Promise<{ manifest: ReleaseManifest; bytes: Buffer }> {
    const key = this.layout.manifest(role, releaseId);
    let bytes: Buffer;
    try {
      bytes = await this.withinDeadline(key, async (signal) => readDocumentBytes((await this.transport.get(key, { signal }))?.body, key));
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(`release ${releaseId} of role ${role} is not published (${this.name}/${key} not found)`, { cause: err });
      throw this.wrap(err, 'read', key);
    }
    const manifest = parseWith(releaseManifestSchema, parseJson(bytes.toString('utf8'), key, integrity), key, integrity);
    if (manifest.role !== role || manifest.id !== releaseId) {
      throw new IntegrityError(`${key}: names ${manifest.role}/${manifest.id}, expected ${role}/${releaseId}`);
    }
    return { manifest, bytes };
  }

  /** Writes a manifest only where none exists (publishing never overwrites). */
  async putManifest(manifest: ReleaseManifest, bytes: Buffer): Promise<void> {
    const key = this.layout.manifest(manifest.role, manifest.id);
    await this.putBytes(key, bytes, 'application/json', { IfNoneMatch: '*' });
  }

  /** A release's detached signature object, as stored, or null when the release is unsigned. */
  async getSignature(role: string, releaseId: string): Promise<Buffer | null> {
    const key = this.layout.signature(role, releaseId);
    try {
      return await this.withinDeadline(key, async (signal) => readDocumentBytes((await this.transport.get(key, { signal }))?.body, key));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.wrap(err, 'read', key);
    }
  }

  /** Writes a release's signature only where none exists; publish writes it before the manifest. */
  async putSignature(role: string, releaseId: string, bytes: Buffer): Promise<void> {
    await this.putBytes(this.layout.signature(role, releaseId), bytes, 'application/json', { IfNoneMatch: '*' });
  }

  /** Size of a stored blob, or null when absent. */
  async headBlob(digest: string): Promise<number | null> {
    return this.headKey(this.layout.blob(digest));
  }

  /** Uploads a blob from a file, multipart when large, reporting bytes sent. */
  async putBlobFromFile(input: { digest: string; file: string; size: number; onProgress?: (sent: number) => void }): Promise<void> {
    await this.uploadFile({ key: this.layout.blob(input.digest), contentType: 'application/gzip', ...input });
  }

  /** Size of a stored herd executable, or null when absent. */
  async headAgentExecutable(digest: string): Promise<number | null> {
    return this.headKey(this.layout.agentExecutable(digest));
  }

  /** Uploads a herd executable under its digest (herd publish-agent). */
  async putAgentExecutable(input: { digest: string; file: string; size: number; onProgress?: (sent: number) => void }): Promise<void> {
    await this.uploadFile({ key: this.layout.agentExecutable(input.digest), contentType: 'application/octet-stream', ...input });
  }

  /** The executable `herd publish-agent` published last; NotFoundError when none was. */
  async getAgentPointer(): Promise<AgentPointer> {
    const key = this.layout.agentPointer();
    let text: string;
    try {
      text = await this.withinDeadline(key, async (signal) => readDocument((await this.transport.get(key, { signal }))?.body, key));
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(`no herd executable is published under ${this.name} (${key} not found): run herd publish-agent`, { cause: err });
      throw this.wrap(err, 'read', key);
    }
    return parseWith(agentPointerSchema, parseJson(text, key, integrity), key, integrity);
  }

  /** Points agent/linux-x64.json at an executable that is in the store (rewritten by each publish-agent). */
  async putAgentPointer(pointer: AgentPointer): Promise<void> {
    await this.putJson(this.layout.agentPointer(), pointer, {});
  }

  /** A stream of a blob's bytes; the caller verifies them. */
  async getBlobStream(digest: string): Promise<{ body: Readable; size: number | null }> {
    const key = this.layout.blob(digest);
    try {
      // The deadline covers the wait for the first byte; a long download is the socket idle timeout's to watch.
      const out = await this.withinDeadline(key, (signal) => this.transport.get(key, { signal }));
      if (!out?.body) throw new StoreError(`${this.name}/${key}: empty response body`);
      return { body: out.body, size: out.size };
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(`blob ${digest} is missing from ${this.name}`, { cause: err });
      throw this.wrap(err, 'read', key);
    }
  }

  async putReport(report: InstanceReport): Promise<void> {
    await this.putJson(this.layout.report(report.role, report.instanceId), report, {});
  }

  /** Every instance report of a role; unparseable ones are returned as errors, not dropped. */
  async listReports(role: string): Promise<Array<InstanceReport | { key: string; error: string }>> {
    const keys = (await this.list(this.layout.reportsPrefix(role))).keys.filter((k) => k.endsWith('.json'));
    return this.readEach(keys, instanceReportSchema, (key, err) => ({ key, error: err.message }));
  }

  /** Records that `marker.release` failed on an instance (agent/rollout/halt.ts). */
  async putFailureMarker(role: string, marker: FailureMarker): Promise<void> {
    await this.putJson(this.layout.failure(role, marker.release, marker.instanceId), marker, {});
  }

  /** The failure markers of a release: one listing (the agent's own, or the SDK's) and a read of each; unreadable ones are skipped. */
  async listFailureMarkers(role: string, releaseId: string): Promise<FailureMarker[]> {
    const prefix = this.layout.failuresPrefix(role, releaseId);
    const list = this.transport.list?.bind(this.transport);
    if (!list) throw new StoreError(`${this.name} cannot list objects: failure markers are read from a bucket`);
    let keys: string[];
    try {
      keys = (await this.withinDeadline(prefix, (signal) => list(prefix, { signal }))).filter((k) => k.endsWith('.json'));
    } catch (err) {
      throw this.wrap(err, 'list', prefix);
    }
    const read = await this.readEach(keys, failureMarkerSchema, (key, err) => {
      this.log.warn({ key, err: err.message }, 'skipping a failure marker that cannot be read');
      return null;
    });
    return read.filter((m): m is FailureMarker => m !== null);
  }

  /** Roles with anything stored under roles/ (one listing with a delimiter; herd mirror --all). */
  async listRoles(): Promise<string[]> {
    const prefix = this.layout.rolesPrefix();
    return (await this.list(prefix, '/')).prefixes.map((p) => p.slice(prefix.length, -1));
  }

  /** Ids of a role's published releases: its manifests' names (herd mirror). */
  async listReleases(role: string): Promise<string[]> {
    const prefix = this.layout.releasesPrefix(role);
    return (await this.list(prefix, '/')).keys.filter((k) => k.endsWith('.json')).map((k) => k.slice(prefix.length, -'.json'.length));
  }

}

/** A conditional write: `ifMatch` an ETag read before, or `ifNoneMatch` (only when absent). */
export interface WriteCondition {
  ifMatch?: string | null;
  ifNoneMatch?: boolean;
}

function conditionHeaders(cond: WriteCondition): { IfMatch?: string; IfNoneMatch?: string } {
  return { ...(cond.ifMatch ? { IfMatch: cond.ifMatch } : {}), ...(cond.ifNoneMatch ? { IfNoneMatch: '*' } : {}) };
}

export { encodeDocument } from './stored-objects.ts';
