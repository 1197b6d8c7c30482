// Reading a document (channel, manifest, signature, report) from a source: its exact bytes,
// and never more than a document may be, whatever the source sends.
import type { Readable } from 'node:stream';
import { IntegrityError, StoreError } from '../errors.ts';

/** Documents are small; anything larger than this is refused before parsing. */
export const MAX_DOCUMENT_BYTES = 1024 * 1024;

/** A small document as text (see readDocumentBytes). */
export async function readDocument(body: Readable | undefined, key: string): Promise<string> {
  return (await readDocumentBytes(body, key)).toString('utf8');
}

/** Reads a small document body as its exact bytes, refusing one larger than MAX_DOCUMENT_BYTES. */
export async function readDocumentBytes(body: Readable | undefined, key: string): Promise<Buffer> {
  if (!body) throw new StoreError(`${key}: empty response body`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > MAX_DOCUMENT_BYTES) {
      body.destroy();
      throw new IntegrityError(`${key}: larger than ${MAX_DOCUMENT_BYTES} bytes, refused`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
