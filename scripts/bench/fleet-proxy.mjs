// A counting HTTP proxy in front of the local S3 server, one per agent (and one for the
// operator), so every request is attributed without parsing signatures or source ports.
// It forwards bytes unchanged (the Host header too, which SigV4 signs) and records, per
// request: when it started and ended, method, status, which object it was for, and the
// body bytes each way. Listens on 127.0.0.1 only.
import http from 'node:http';

/** Which kind of object a path names, from the layout in agent/store/layout.ts. Pure. */
export function classifyKey(url) {
  const path = (url ?? '/').split('?')[0];
  if (path.endsWith('/channel.json')) return 'channel';
  if (/\/instances\/[^/]+\.json$/.test(path)) return 'report';
  if (/\/releases\/[^/]+\.json$/.test(path)) return 'manifest';
  if (/\/releases\/[^/]+\.json\.sig$/.test(path)) return 'signature';
  if (path.includes('/blobs/sha256/')) return 'blob';
  return 'other';
}

/**
 * Starts a proxy to `target` (http://127.0.0.1:PORT). `records` grows with one entry per
 * finished request: { start, end, method, status, kind, down, up } (times from
 * performance.now(), bytes of response and request bodies). `stats.connections` holds when
 * each client TCP connection opened; idle ones are kept 60 s, about what S3 allows.
 */
export async function startCountingProxy({ target, name }) {
  const upstream = new URL(target);
  // A fresh upstream connection per request: reusing one that s3rver is just closing
  // (its keep-alive timeout is 5 s, about the poll interval) would show as agent errors.
  const pool = new http.Agent({ keepAlive: false, maxSockets: 32 });
  const records = [];
  const stats = { name, records, connections: [], errors: 0 };

  const handle = (req, res) => {
    const start = performance.now();
    let up = 0;
    let down = 0;
    req.on('data', (chunk) => { up += chunk.length; });
    const forward = http.request({
      host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent: pool,
    }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.on('data', (chunk) => { down += chunk.length; });
      answer.on('end', () => {
        records.push({ start, end: performance.now(), method: req.method, status: answer.statusCode, kind: classifyKey(req.url), down, up });
      });
      answer.pipe(res);
    });
    forward.on('error', (err) => {
      stats.errors += 1;
      records.push({ start, end: performance.now(), method: req.method, status: 502, kind: classifyKey(req.url), down: 0, up, error: err.message });
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${err.message}\n`);
    });
    req.pipe(forward);
  };

  const server = http.createServer(handle);
  server.on('checkContinue', (req, res) => { res.writeContinue(); handle(req, res); });
  server.on('connection', () => { stats.connections.push(performance.now()); });
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    name,
    stats,
    endpoint: `http://127.0.0.1:${port}`,
    /** The requests that started within [from, to). */
    between(from, to) {
      return records.filter((r) => r.start >= from && r.start < to);
    },
    /** How many client connections opened within [from, to). */
    connectionsBetween(from, to) {
      return stats.connections.filter((t) => t >= from && t < to).length;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve()));
      pool.destroy();
    },
  };
}
