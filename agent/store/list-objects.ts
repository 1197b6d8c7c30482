// S3's ListObjectsV2 over the agent's own client: every key under a prefix, page by page.
// Only what the agent lists (a release's failure markers) goes this way; operators list
// through the SDK (listing.ts). The answer is S3's documented XML; keys are read out of it
// without an XML library: <Key>, <IsTruncated>, <NextContinuationToken>, entities decoded.
import type { ObjectClient } from './http-exchange.ts';

/** A listing larger than this is refused: markers are counted in ones, not thousands. */
const MAX_PAGES = 10;

export async function listKeys(client: ObjectClient, prefix: string, signal: AbortSignal): Promise<string[]> {
  const keys: string[] = [];
  let token: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query: Record<string, string> = { 'list-type': '2', prefix, ...(token ? { 'continuation-token': token } : {}) };
    const res = await client.send({ method: 'GET', key: '', query, signal });
    const xml = await readText(res.body);
    keys.push(...elements(xml, 'Key'));
    token = elements(xml, 'IsTruncated')[0] === 'true' ? elements(xml, 'NextContinuationToken')[0] ?? null : null;
    if (!token) return keys;
  }
  throw new Error(`listing ${prefix}: more than ${MAX_PAGES} pages`);
}

/** The text of every <name>...</name>, entities decoded. */
export function elements(xml: string, name: string): string[] {
  const found: string[] = [];
  const pattern = new RegExp(`<${name}>([^<]*)</${name}>`, 'g');
  for (const m of xml.matchAll(pattern)) found.push(decodeEntities(m[1] ?? ''));
  return found;
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(Number.parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(Number(e.slice(1)));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e] ?? '';
  });
}

async function readText(body: AsyncIterable<unknown>): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > 8 * 1024 * 1024) throw new Error('listing answer larger than 8 MiB');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
