// The sample app, second version: what `herd demo` rolls the fleet to. The same contract
// as examples/hello-app (release, role, instance, zone, the config bundle's greeting,
// SIGHUP re-reads the config), new code: it says which version it is and how long it has
// been up, so the answers show the roll.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const VERSION = 2;
const configFile = join(process.env.HERD_CONFIG_DIR ?? '.', 'app.json');
const startedAt = Date.now();
let config = load();
let served = 0;

function load() {
  try {
    return JSON.parse(readFileSync(configFile, 'utf8'));
  } catch {
    return {};
  }
}

const server = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  served += 1;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify({
    greeting: `${config.greeting ?? 'hello'} (v${VERSION})`,
    version: VERSION,
    release: process.env.HERD_RELEASE,
    role: process.env.HERD_ROLE,
    instance: process.env.HERD_INSTANCE_ID,
    az: process.env.HERD_AZ,
    pid: process.pid,
    upS: Math.round((Date.now() - startedAt) / 1000),
    served,
  })}\n`);
});

server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
  console.log(`hello-app v${VERSION} ${process.env.HERD_RELEASE} listening on ${server.address().port}`);
});

process.on('SIGHUP', () => {
  config = load();
  console.log(`config reloaded: greeting=${config.greeting}`);
});
process.on('SIGTERM', () => {
  console.log('SIGTERM: closing');
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 3000).unref();
});
