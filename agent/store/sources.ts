// The agent's ordered sources: every read and write tries them in order and takes the first
// that answers. The one failover of the agent, used for the channel, release fetches, the
// last-known-good signature check and instance reports (which skip read-only HTTP sources).
// Each source keeps the last channel it gave and its ETag or Last-Modified, so an unchanged
// channel costs a 304 without a body; and, for agents that check signed channels, the
// channel's signature, read again only when the channel changed (or when asked: while the
// channel is refused).
import { describeError, StoreError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ObjectStore } from './object-store.ts';
import type { Channel, FailureMarker } from './schemas.ts';
import type { ObjectVersion } from './transport.ts';

export type ChannelResult =
  /**
   * `bytes`: the channel exactly as stored. `signature`: its signature object's bytes (null:
   * none), read from the same source; undefined when not asked for.
   */
  | { kind: 'found'; channel: Channel; bytes: Buffer; signature?: Buffer | null; source: string }
  /** Every source answered, and none has a channel for the role. */
  | { kind: 'absent'; detail: string };

export interface SourcesInput {
  stores: readonly ObjectStore[];
  log: Logger;
  /** Each channel read, by result: found, not-modified, missing, error. */
  onChannelRead?: (result: 'found' | 'not-modified' | 'missing' | 'error') => void;
}

export class Sources {
  readonly stores: readonly ObjectStore[];
  private readonly log: Logger;
  private readonly onChannelRead: NonNullable<SourcesInput['onChannelRead']>;
  private readonly channels = new Map<string, CachedChannel>();
  /** Whether "no source takes writes" was said (once per set of sources). */
  private saidReadOnly = false;
  /** The source that gave the channel last: it answers now, so it is asked first for markers. */
  private answered: string | null = null;

  constructor(input: SourcesInput) {
    if (input.stores.length === 0) throw new StoreError('no sources configured');
    this.stores = input.stores;
    this.log = input.log.child({ module: 'sources' });
    this.onChannelRead = input.onChannelRead ?? (() => {});
  }

  get names(): string[] {
    return this.stores.map((s) => s.name);
  }

  /**
   * `fn` on each source in order until one succeeds. When all fail, throws SourcesFailed: with
   * one source its error's words, with several each source's name and what it said. Each
   * failure is logged as "<what> failed; trying the next source" with `context`.
   */
  first<T>(what: string, fn: (store: ObjectStore) => Promise<T>, context: Record<string, unknown> = {}): Promise<T> {
    return this.inOrder(this.stores, what, fn, context);
  }

  /**
   * `fn` on each source that takes writes (not an HTTP source), in order, as `first` does.
   * With none that takes writes it does nothing, and says so the first time.
   */
  async write(what: string, fn: (store: ObjectStore) => Promise<void>): Promise<void> {
    const writable = this.stores.filter((s) => s.writable);
    if (writable.length > 0) return this.inOrder(writable, what, fn, {});
    if (this.saidReadOnly) return;
    this.saidReadOnly = true;
    this.log.warn({ sources: this.names }, `no source takes writes (HTTP sources are read-only): skipping each ${what}`);
  }

  /**
   * A release's failure markers, from the sources that take writes (where every agent writes
   * them, with its reports), the one that gave the channel last first; none when no source does.
   */
  async failureMarkers(role: string, releaseId: string): Promise<FailureMarker[]> {
    // The source that just gave the channel first: a primary that hangs costs one deadline per poll, not two.
    const writable = this.stores.filter((s) => s.writable).sort((a, b) => Number(b.name === this.answered) - Number(a.name === this.answered));
    if (writable.length === 0) return [];
    return this.inOrder(writable, 'failure markers read', (store) => store.listFailureMarkers(role, releaseId), { release: releaseId });
  }

  private async inOrder<T>(stores: readonly ObjectStore[], what: string, fn: (store: ObjectStore) => Promise<T>, context: Record<string, unknown>): Promise<T> {
    const failures: Array<{ source: string; err: unknown }> = [];
    for (const store of stores) {
      try {
        return await fn(store);
      } catch (err) {
        failures.push({ source: store.name, err });
        if (!(err instanceof NoChannel)) this.log.warn({ ...context, source: store.name, err: describeError(err) }, `${what} failed; trying the next source`);
      }
    }
    throw new SourcesFailed(failures);
  }

  /**
   * The role's channel from the first source that has one; absent when every source answers
   * without one. `signature`: 'skip' (not read), 'when-changed' (read with a changed channel,
   * else as last read) or 'again' (read now whatever the channel did).
   */
  async channel(role: string, signature: SignatureRead = 'skip'): Promise<ChannelResult> {
    const result = await this.first('channel read', async (store) => {
      const cached = this.channels.get(store.name);
      let read;
      try {
        read = await store.getChannel(role, cached?.version ?? null);
      } catch (err) {
        this.onChannelRead('error');
        throw err;
      }
      this.onChannelRead(read.kind);
      if (read.kind !== 'missing') this.answered = store.name;
      let entry: CachedChannel;
      if (read.kind === 'not-modified' && cached) entry = cached;
      else if (read.kind === 'found') entry = { channel: read.channel, bytes: read.bytes, version: { etag: read.etag, lastModified: read.lastModified } };
      else throw new NoChannel(`${store.name}: no channel for role ${role}`);
      if (signature !== 'skip' && (signature === 'again' || entry !== cached || entry.signature === undefined)) {
        entry = { ...entry, signature: (await store.getChannelSignature(role))?.bytes ?? null };
      }
      this.channels.set(store.name, entry);
      return {
        kind: 'found' as const, channel: entry.channel, bytes: entry.bytes, source: store.name,
        ...(signature !== 'skip' ? { signature: entry.signature ?? null } : {}),
      };
    }).catch((err: unknown) => {
      if (allNoChannel(err)) return { kind: 'absent' as const, detail: describeError(err) };
      throw new StoreError(`no source gave a channel for role ${role}: ${describeError(err)}`, { cause: err });
    });
    return result;
  }
}

export type SignatureRead = 'skip' | 'when-changed' | 'again';

interface CachedChannel {
  channel: Channel;
  bytes: Buffer;
  version: ObjectVersion;
  /** The signature as last read; undefined when it was not read. */
  signature?: Buffer | null;
}

/** A source that answered without a channel: the next one may have it. */
class NoChannel extends Error {}

/** Every source failed; `failures` says how, in source order. */
export class SourcesFailed extends StoreError {
  readonly failures: ReadonlyArray<{ source: string; err: unknown }>;
  constructor(failures: ReadonlyArray<{ source: string; err: unknown }>) {
    const last = failures[failures.length - 1]?.err;
    super(failures.length === 1 ? describeError(last) : failures.map((f) => `${f.source}: ${describeError(f.err)}`).join('; '), failures.length === 1 ? { cause: last } : {});
    this.failures = failures;
  }
}

function allNoChannel(err: unknown): boolean {
  return err instanceof SourcesFailed && err.failures.every((f) => f.err instanceof NoChannel);
}
