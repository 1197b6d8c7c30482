// HTTPS in front of the local store, for measuring the agent as it runs on AWS: there the
// store is S3 over HTTPS, so the agent loads tls and https and holds a TLS session with the
// root CA store in memory (https alone adds about 5 MB to a bare node). A TLS-terminating
// TCP proxy in the bench process, with a throwaway self-signed certificate made by the
// openssl CLI (node's crypto makes keys, not certificates); a client trusts it through
// NODE_EXTRA_CA_CERTS=caFile.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createServer } from 'node:tls';

const OPENSSL = existsSync('/usr/bin/openssl') ? '/usr/bin/openssl' : 'openssl';

/**
 * Listens on 127.0.0.1 over TLS and passes every connection through to `target` (an
 * http://host:port URL) as it is. Returns { endpoint: 'https://127.0.0.1:PORT', caFile, connections(), close() }.
 */
export async function startTlsFront({ target, dir }) {
  await mkdir(dir, { recursive: true });
  const [keyFile, caFile] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  // RSA 2048, as S3's own certificates; valid for the address the agent connects to.
  const made = spawnSync(OPENSSL, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', caFile,
    '-days', '1', '-subj', '/CN=herd bench store', '-addext', 'subjectAltName=IP:127.0.0.1', '-addext', 'basicConstraints=critical,CA:TRUE'],
  { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl could not make the bench's certificate (${made.error?.message ?? made.stderr.trim()})`);

  const { hostname, port } = new URL(target);
  const sockets = new Set();
  let connections = 0;
  const server = createServer({ key: readFileSync(keyFile), cert: readFileSync(caFile) }, (client) => {
    connections++;
    const upstream = connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream).pipe(client);
  });
  // A client that gives up on the handshake is not the bench's concern.
  server.on('tlsClientError', () => {});
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    endpoint: `https://127.0.0.1:${server.address().port}`,
    caFile,
    /** TLS connections accepted so far. */
    connections: () => connections,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
