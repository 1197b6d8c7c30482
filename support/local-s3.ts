// A local S3-compatible store (s3rver) over real HTTP, for the demo, the tests and the
// benchmarks. s3rver is a dev dependency, loaded on demand; the product never imports this.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { StaticCredentials } from '../agent/store/client.ts';

/** s3rver's fixed credentials; it checks request signatures against them. */
export const LOCAL_S3_CREDENTIALS: StaticCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface LocalS3 {
  endpoint: string;
  port: number;
  /** Stops it; a store that is already stopping or stopped is fine. */
  close(): Promise<void>;
}

export async function startLocalS3(input: { directory: string; buckets: string[]; port?: number }): Promise<LocalS3> {
  const { default: S3rver } = await import('s3rver') as unknown as { default: new (o: object) => S3rverInstance };
  const server = new S3rver({
    address: '127.0.0.1',
    port: input.port ?? 0,
    directory: input.directory,
    silent: true,
    vhostBuckets: false,
    configureBuckets: input.buckets.map((name) => ({ name })),
  });
  const address = await server.run() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    port: address.port,
    close() {
      closing ??= (async () => {
        server.httpServer?.closeAllConnections();
        await server.close().catch(() => {});
      })();
      return closing;
    },
  };
}

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}
