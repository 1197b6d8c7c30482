// herd status --compare: the role's channel as each store has it, next to the one read, so an
// operator sees whether a mirror (another bucket, a store outside AWS, a CDN) is current.
// A store is named as `s3://bucket[/prefix]` (the store flags' region and credentials; with
// --compare-endpoint for an S3-compatible store) or an http(s):// URL (an HTTP source).
import { httpSourceSchema, sourceSchema, type AgentSourceConfig } from '../config.ts';
import { describeError, UsageError } from '../errors.ts';
import { parseFlags } from '../flags.ts';
import type { Logger } from '../log.ts';
import { ObjectStore } from '../store/object-store.ts';
import type { Channel } from '../store/schemas.ts';

export interface StoreChannel {
  store: string;
  generation: number | null;
  release: string | null;
  /** Compared with the first store's: behind (lower generation), ahead, same, or none to compare. */
  standing: 'same' | 'behind' | 'ahead' | 'no channel' | 'unreadable';
  error: string | null;
}

/** Parses one --compare value into a source; UsageError naming the flag when it is neither form. */
export function compareSource(value: string, extra: { region?: string | undefined; endpoint?: string | undefined }): AgentSourceConfig {
  if (/^https?:\/\//.test(value)) return parseFlags(httpSourceSchema, { url: value }, { url: '--compare' });
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(value);
  if (!m) throw new UsageError(`--compare takes s3://BUCKET[/PREFIX] or an http(s):// URL, not ${JSON.stringify(value)}`);
  return parseFlags(sourceSchema, {
    bucket: m[1], prefix: m[2] ?? 'herd', region: extra.region, endpoint: extra.endpoint,
  }, { bucket: '--compare', prefix: '--compare', endpoint: '--compare-endpoint' });
}

/** Pure: each store's channel against the reference (the first). */
export function standings(reads: Array<{ store: string; channel: Channel | null; error: string | null }>): StoreChannel[] {
  const ref = reads[0]?.channel ?? null;
  return reads.map(({ store, channel, error }) => ({
    store, generation: channel?.generation ?? null, release: channel?.release ?? null, error,
    standing: error ? 'unreadable' : !channel ? 'no channel' : !ref || channel.generation === ref.generation ? 'same' : channel.generation < ref.generation ? 'behind' : 'ahead',
  }));
}

export async function readStoreChannels(input: { role: string; stores: ObjectStore[]; log: Logger }): Promise<StoreChannel[]> {
  const reads = await Promise.all(input.stores.map(async (store) => {
    try {
      const read = await store.getChannel(input.role);
      return { store: store.name, channel: read.kind === 'found' ? read.channel : null, error: null };
    } catch (err) {
      return { store: store.name, channel: null, error: describeError(err) };
    }
  }));
  return standings(reads);
}

/** Pure: the lines under the channel block. */
export function renderStores(stores: StoreChannel[]): string[] {
  return stores.map((s, i) => {
    const what = s.error ? `unreadable: ${s.error}` : s.generation === null ? 'no channel' : `generation ${s.generation} -> ${s.release}`;
    const mark = i === 0 || s.standing === 'same' || s.error ? '' : `  ${s.standing.toUpperCase()}`;
    return `${i === 0 ? 'stores  ' : '        '} ${s.store}: ${what}${mark}`;
  });
}

/** The stores --compare names, next to `store`, each with its channel. */
export async function compareStores(input: { role: string; store: ObjectStore; compare: string[]; endpoint?: string | undefined; log: Logger }): Promise<StoreChannel[]> {
  const { createS3Client } = await import('../store/client.ts');
  const region = 'bucket' in input.store.source ? input.store.source.region : undefined;
  const others = input.compare.map((value) => {
    const source = compareSource(value, { region, endpoint: input.endpoint });
    return new ObjectStore({ source, log: input.log, ...('bucket' in source ? { client: createS3Client(source) } : {}) });
  });
  return readStoreChannels({ role: input.role, stores: [input.store, ...others], log: input.log });
}
