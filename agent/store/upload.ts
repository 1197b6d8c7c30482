// Uploading a file to S3, multipart when large, through the SDK's lib-storage: what publishers
// do (blobs, the herd executable). Loaded on use: agents never upload, and must not carry it.
import { createReadStream } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';

export interface UploadInput {
  client: S3Client;
  bucket: string;
  key: string;
  file: string;
  size: number;
  contentType: string;
  onProgress?: ((sent: number) => void) | undefined;
}

export async function uploadFile(input: UploadInput): Promise<void> {
  const { Upload } = await import('./sdk-upload.ts');
  const upload = new Upload({
    client: input.client,
    params: {
      Bucket: input.bucket, Key: input.key, Body: createReadStream(input.file, { highWaterMark: 1024 * 1024 }),
      ContentType: input.contentType, ContentLength: input.size,
    },
    partSize: 16 * 1024 * 1024,
    queueSize: 4,
    leavePartsOnError: false,
  });
  if (input.onProgress) upload.on('httpUploadProgress', (p) => input.onProgress?.(p.loaded ?? 0));
  await upload.done();
}
