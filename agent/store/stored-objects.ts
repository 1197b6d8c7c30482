// The generic half of a store: objects moved through the source's transport (transport.ts)
// under a deadline, failures named as StoreError / ConflictError, JSON documents parsed through
// their schemas, and what only the SDK does (listing, multipart uploads), loaded on first use.
// ObjectStore (object-store.ts) adds herd's documents on top.
import type { S3Client } from '@aws-sdk/client-s3';
import { isHttpSource, type AgentSourceConfig, type SourceConfig } from '../config.ts';
import { ConflictError, IntegrityError, StoreError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseJson, parseWith } from '../validate.ts';
import type * as z from '../zod.ts';
import { describeSource, layoutFor, type Layout } from './layout.ts';
import type { Listing } from './listing.ts';
import { readDocument } from './read-document.ts';
import type { Credentials } from './sigv4.ts';
import { isNotFound, statusOf, transportFor, type StoreTransport } from './transport.ts';

export interface ObjectStoreInput {
  source: AgentSourceConfig;
  log: Logger;
  /** An AWS SDK client to use (operator commands, tests); none: the agent's own client (transport.ts). */
  client?: S3Client;
  /** Fixed keys for the agent's own client (local stores); none: the default chain's (credentials.ts). */
  credentials?: Credentials;
}

/**
 * A document (channel, manifest, signature, report), or a blob's first byte, that has not
 * come within this, retries included, is not coming: a store that accepts connections and
 * never answers is down, and must not hold a poll, or the failover to the next source, for ever.
 */
const DOCUMENT_DEADLINE_MS = 10_000;

export class StoredObjects {
  readonly source: AgentSourceConfig;
  readonly layout: Layout;
  readonly name: string;
  /** False for an HTTP(S) source: reports go to the next source that takes writes. */
  readonly writable: boolean;
  protected readonly transport: StoreTransport;
  protected readonly credentials: Credentials | undefined;
  /** The SDK client, for what only it does (listing, multipart uploads): the one given, or one made on first use. */
  protected sdkClient: Promise<S3Client> | undefined;
  protected readonly log: Logger;

  constructor(input: ObjectStoreInput) {
    this.source = input.source;
    // An HTTP source's URL already ends where the layout starts.
    this.layout = layoutFor(isHttpSource(input.source) ? '' : input.source.prefix);
    this.name = describeSource(input.source);
    this.writable = !isHttpSource(input.source);
    this.credentials = input.credentials;
    if (input.client) this.sdkClient = Promise.resolve(input.client);
    this.transport = transportFor(input);
    this.log = input.log.child({ module: 'store', source: this.name });
  }

  /** Each key's document through `schema`; what cannot be read or parsed becomes `onError`'s answer. */
  protected readEach<S extends z.ZodMiniType, E>(keys: string[], schema: S, onError: (key: string, err: Error) => E): Promise<Array<z.infer<S> | E>> {
    return Promise.all(keys.map(async (key) => {
      try {
        const text = await this.withinDeadline(key, async (signal) => readDocument((await this.transport.get(key, { signal }))?.body, key));
        return parseWith(schema, parseJson(text, key, integrity), key, integrity);
      } catch (err) {
        return onError(key, err as Error);
      }
    }));
  }

  protected async list(prefix: string, delimiter?: string): Promise<Listing> {
    try {
      const { listPrefix } = await import('./listing.ts');
      return await listPrefix(await this.sdk(), this.bucketSource().bucket, prefix, delimiter);
    } catch (err) {
      throw this.wrap(err, 'list', prefix);
    }
  }

  protected async headKey(key: string): Promise<number | null> {
    try {
      return (await this.withinDeadline(key, (signal) => this.transport.head(key, { signal }))) ?? 0;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.wrap(err, 'check', key);
    }
  }

  protected async uploadFile(input: { key: string; file: string; size: number; contentType: string; onProgress?: (sent: number) => void }): Promise<void> {
    try {
      const { uploadFile } = await import('./upload.ts');
      await uploadFile({ ...input, client: await this.sdk(), bucket: this.bucketSource().bucket });
    } catch (err) {
      throw this.wrap(err, 'upload', input.key);
    }
  }

  protected async putJson(key: string, doc: unknown, cond: { IfMatch?: string; IfNoneMatch?: string }): Promise<void> {
    await this.putBytes(key, encodeDocument(doc), 'application/json', cond);
  }

  protected async putBytes(key: string, body: Buffer, contentType: string, cond: { IfMatch?: string; IfNoneMatch?: string }): Promise<string | null> {
    try {
      const etag = await this.withinDeadline(key, (signal) => this.transport.put(key, body, {
        contentType, signal, ...(cond.IfMatch ? { ifMatch: cond.IfMatch } : {}), ...(cond.IfNoneMatch ? { ifNoneMatch: cond.IfNoneMatch } : {}),
      }));
      this.log.debug({ key, bytes: body.length }, 'wrote object');
      return etag;
    } catch (err) {
      if (statusOf(err) === 412 || statusOf(err) === 409) {
        throw new ConflictError(`${this.name}/${key} changed or exists already (conditional write refused)`, { cause: err });
      }
      throw this.wrap(err, 'write', key);
    }
  }

  /** The SDK client, made on first use when none was given (only publishers and `status` need it). */
  protected sdk(): Promise<S3Client> {
    this.sdkClient ??= import('./client.ts').then(({ createS3Client }) => createS3Client(this.bucketSource(), this.credentials));
    return this.sdkClient;
  }

  /** The source as a bucket, for what only S3 does (listing, uploads); an HTTP source has none. */
  protected bucketSource(): SourceConfig {
    if (isHttpSource(this.source)) throw new StoreError(`${this.name} is a read-only HTTP source: it cannot list or take uploads`);
    return this.source;
  }

  /** Runs one exchange with the store under DOCUMENT_DEADLINE_MS; past it, the request is aborted and a StoreError says so. */
  protected async withinDeadline<T>(key: string, exchange: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), DOCUMENT_DEADLINE_MS);
    try {
      return await exchange(controller.signal);
    } catch (err) {
      if (controller.signal.aborted) throw new StoreError(`cannot reach ${this.name}/${key}: no answer within ${DOCUMENT_DEADLINE_MS / 1000}s`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  protected wrap(err: unknown, verb: string, key: string): Error {
    if (err instanceof StoreError || err instanceof IntegrityError) return err;
    const code = (err as { name?: string }).name ?? 'Error';
    return new StoreError(`cannot ${verb} ${this.name}/${key}: ${code}${statusOf(err) ? ` (HTTP ${statusOf(err)})` : ''}`, { cause: err });
  }
}

/** A document's bytes as herd writes them: pretty-printed JSON (two-space indent) and a newline. */
export function encodeDocument(doc: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(doc, null, 2)}\n`);
}

/** How a document that does not parse is refused. */
export const integrity = (message: string) => new IntegrityError(message);
