// Free TCP ports on 127.0.0.1 for the demo's servers, the integration tests and the benchmarks.
import { createServer, type Server } from 'node:net';

/** One port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port as number;
}

/** `count` distinct free ports: all are held open together before any is released. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      ports.push(await new Promise<number>((resolvePort, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolvePort((server.address() as { port: number }).port));
      }));
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((done) => (s.listening ? s.close(() => done()) : done()))));
  }
}
