// How an ObjectStore reaches its source, one object at a time: the agent's own S3 client
// (s3-http.ts, for the agent and `herd pull`), the read-only HTTP(S) source (http-source.ts),
// or an AWS SDK S3Client (the operator commands, tests, the demo). All throw errors that carry
// `$metadata.httpStatusCode` and an error code as `name`, so ObjectStore reads them the same way.
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { isHttpSource, type AgentSourceConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { ObjectClient } from './http-exchange.ts';
import { HttpSource } from './http-source.ts';
import { listKeys } from './list-objects.ts';
import { S3Http } from './s3-http.ts';
import type { Credentials } from './sigv4.ts';

/** What a reader last saw of an object, to ask for it again only if it changed. */
export interface ObjectVersion {
  etag: string | null;
  /** The Last-Modified header as sent: what a server without ETags is asked with. */
  lastModified: string | null;
}

export interface StoredObject extends ObjectVersion {
  body: Readable;
  size: number | null;
}

export interface PutOptions {
  contentType: string;
  ifMatch?: string;
  ifNoneMatch?: string;
  signal: AbortSignal;
}

export interface StoreTransport {
  /** The object, or null when it has not changed since `since` (304). */
  get(key: string, opts: { since?: ObjectVersion | null; signal?: AbortSignal }): Promise<StoredObject | null>;
  /** The object's size, without its body. */
  head(key: string, opts: { signal: AbortSignal }): Promise<number | null>;
  /** Writes the object; resolves with its new ETag, when the store gave one. */
  put(key: string, body: Buffer, opts: PutOptions): Promise<string | null>;
  /** Every key under `prefix`; absent where the source cannot list (an HTTP source). */
  list?(prefix: string, opts: { signal: AbortSignal }): Promise<string[]>;
}

export interface TransportInput {
  source: AgentSourceConfig;
  log: Logger;
  /** An AWS SDK client to use (operator commands, tests); none: the agent's own client. */
  client?: S3Client | undefined;
  /** Fixed keys for the agent's own S3 client (local stores); none: the SDK's default chain. */
  credentials?: Credentials | undefined;
}

export function transportFor(input: TransportInput): StoreTransport {
  if (isHttpSource(input.source)) return httpTransport(new HttpSource({ source: input.source }));
  if (input.client) return sdkTransport(input.client, input.source.bucket);
  const s3 = new S3Http({ source: input.source, log: input.log, ...(input.credentials ? { credentials: input.credentials } : {}) });
  return { ...httpTransport(s3), list: (prefix, opts) => listKeys(s3, prefix, opts.signal) };
}

/** The HTTP status an error from any transport carries. */
export function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

/** The object is not there (S3 names it NoSuchKey, or NotFound for a HEAD). */
export function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name;
  return statusOf(err) === 404 || name === 'NoSuchKey' || name === 'NotFound';
}

/**
 * The one rule for a conditional read: If-None-Match with the ETag when the source gave one,
 * else If-Modified-Since with the Last-Modified it gave; nothing when it gave neither.
 */
export function conditionalHeaders(since: ObjectVersion | null | undefined): Record<string, string> {
  if (since?.etag) return { 'if-none-match': since.etag };
  if (since?.lastModified) return { 'if-modified-since': since.lastModified };
  return {};
}

/** Over the agent's own clients (S3 or a plain HTTP source). */
export function httpTransport(client: ObjectClient): StoreTransport {
  const never = new AbortController().signal;
  const header = (value: string | string[] | undefined) => (typeof value === 'string' ? value : null);
  return {
    async get(key, opts) {
      const res = await client.send({ method: 'GET', key, headers: conditionalHeaders(opts.since), signal: opts.signal ?? never });
      if (res.status === 304) {
        res.body.resume();
        return null;
      }
      const length = Number(res.headers['content-length']);
      return {
        body: res.body, etag: header(res.headers.etag), lastModified: header(res.headers['last-modified']),
        size: Number.isFinite(length) ? length : null,
      };
    },
    async head(key, opts) {
      const res = await client.send({ method: 'HEAD', key, signal: opts.signal });
      res.body.resume();
      const length = Number(res.headers['content-length']);
      return Number.isFinite(length) ? length : null;
    },
    async put(key, body, opts) {
      const res = await client.send({
        method: 'PUT', key, body, signal: opts.signal,
        headers: {
          'content-type': opts.contentType,
          ...(opts.ifMatch ? { 'if-match': opts.ifMatch } : {}),
          ...(opts.ifNoneMatch ? { 'if-none-match': opts.ifNoneMatch } : {}),
        },
      });
      res.body.resume();
      return header(res.headers.etag);
    },
  };
}

/** Over an SDK client; its commands are loaded on first use, like the client itself was. */
export function sdkTransport(client: S3Client, bucket: string): StoreTransport {
  const sdk = () => import('./sdk-s3-commands.ts');
  return {
    async get(key, opts) {
      const { GetObjectCommand } = await sdk();
      const cond = conditionalHeaders(opts.since);
      try {
        const out = await client.send(new GetObjectCommand({
          Bucket: bucket, Key: key,
          ...(cond['if-none-match'] ? { IfNoneMatch: cond['if-none-match'] } : {}),
          ...(cond['if-modified-since'] ? { IfModifiedSince: new Date(cond['if-modified-since']) } : {}),
        }), opts.signal ? { abortSignal: opts.signal } : {});
        return { body: out.Body as Readable, etag: out.ETag ?? null, lastModified: out.LastModified?.toUTCString() ?? null, size: out.ContentLength ?? null };
      } catch (err) {
        if (statusOf(err) === 304) return null;
        throw err;
      }
    },
    async head(key, opts) {
      const { HeadObjectCommand } = await sdk();
      const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: opts.signal });
      return out.ContentLength ?? null;
    },
    async list(prefix) {
      const { listPrefix } = await import('./listing.ts');
      return (await listPrefix(client, bucket, prefix)).keys;
    },
    async put(key, body, opts) {
      const { PutObjectCommand } = await sdk();
      const out = await client.send(new PutObjectCommand({
        Bucket: bucket, Key: key, Body: body, ContentType: opts.contentType,
        ...(opts.ifMatch ? { IfMatch: opts.ifMatch } : {}), ...(opts.ifNoneMatch ? { IfNoneMatch: opts.ifNoneMatch } : {}),
      }), { abortSignal: opts.signal });
      return out?.ETag ?? null;
    },
  };
}
