// How an ObjectStore reaches its source, one object at a time: the agent's own S3 client
// (s3-http.ts, for the agent and `herd pull`), or an AWS SDK S3Client (the operator
// commands, tests, the demo). Both throw errors that carry `$metadata.httpStatusCode` and
// S3's error code as `name`, so ObjectStore reads them the same way.
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Http } from './s3-http.ts';

export interface StoredObject {
  body: Readable;
  etag: string | null;
  size: number | null;
}

export interface PutOptions {
  contentType: string;
  ifMatch?: string;
  ifNoneMatch?: string;
  signal: AbortSignal;
}

export interface StoreTransport {
  /** The object, or null when it still matches `ifNoneMatch` (304). */
  get(key: string, opts: { ifNoneMatch?: string; signal?: AbortSignal }): Promise<StoredObject | null>;
  /** The object's size, without its body. */
  head(key: string, opts: { signal: AbortSignal }): Promise<number | null>;
  /** Writes the object; resolves with its new ETag, when the store gave one. */
  put(key: string, body: Buffer, opts: PutOptions): Promise<string | null>;
}

export function httpTransport(s3: S3Http): StoreTransport {
  const never = new AbortController().signal;
  return {
    async get(key, opts) {
      const res = await s3.send({ method: 'GET', key, headers: opts.ifNoneMatch ? { 'if-none-match': opts.ifNoneMatch } : {}, signal: opts.signal ?? never });
      if (res.status === 304) {
        res.body.resume();
        return null;
      }
      const length = Number(res.headers['content-length']);
      return { body: res.body, etag: typeof res.headers.etag === 'string' ? res.headers.etag : null, size: Number.isFinite(length) ? length : null };
    },
    async head(key, opts) {
      const res = await s3.send({ method: 'HEAD', key, signal: opts.signal });
      res.body.resume();
      const length = Number(res.headers['content-length']);
      return Number.isFinite(length) ? length : null;
    },
    async put(key, body, opts) {
      const res = await s3.send({
        method: 'PUT', key, body, signal: opts.signal,
        headers: {
          'content-type': opts.contentType,
          ...(opts.ifMatch ? { 'if-match': opts.ifMatch } : {}),
          ...(opts.ifNoneMatch ? { 'if-none-match': opts.ifNoneMatch } : {}),
        },
      });
      res.body.resume();
      return typeof res.headers.etag === 'string' ? res.headers.etag : null;
    },
  };
}

/** Over an SDK client; its commands are loaded on first use, like the client itself was. */
export function sdkTransport(client: S3Client, bucket: string): StoreTransport {
  const sdk = () => import('@aws-sdk/client-s3');
  return {
    async get(key, opts) {
      const { GetObjectCommand } = await sdk();
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(opts.ifNoneMatch ? { IfNoneMatch: opts.ifNoneMatch } : {}) }), opts.signal ? { abortSignal: opts.signal } : {});
        return { body: out.Body as Readable, etag: out.ETag ?? null, size: out.ContentLength ?? null };
      } catch (err) {
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 304) return null;
        throw err;
      }
    },
    async head(key, opts) {
      const { HeadObjectCommand } = await sdk();
      const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: opts.signal });
      return out.ContentLength ?? null;
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
