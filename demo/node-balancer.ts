// The fallback load balancer when HAProxy is not there: round robin over the servers
// whose /healthz passes (checked like HAProxy: fall/rise), and a request that meets a
// refused or dropped connection is retried on another server. Small on purpose.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../agent/log.ts';
import type { BalancedServer, Balancer, HealthCheck } from './balancer.ts';

export interface CheckState { up: boolean; streak: number }

/** Pure: a server's state after one check, HAProxy's way: `fall` failures take it down, `rise` passes bring it up. */
export function nextCheckState(state: CheckState, passed: boolean, check: Pick<HealthCheck, 'fall' | 'rise'>): CheckState {
  if (passed === state.up) return { up: state.up, streak: 0 };
  const streak = state.streak + 1;
  return streak >= (state.up ? check.fall : check.rise) ? { up: !state.up, streak: 0 } : { up: state.up, streak };
}

/** Pure: HAProxy's way of showing it ("UP", "UP 1/2" while failing, "DOWN 1/2" while passing). */
export function describeCheckState(state: CheckState, check: Pick<HealthCheck, 'fall' | 'rise'>): string {
  if (state.streak === 0) return state.up ? 'UP' : 'DOWN';
  return state.up ? `UP ${state.streak}/${check.fall}` : `DOWN ${state.streak}/${check.rise}`;
}

const ATTEMPTS = 3;

export async function startNodeBalancer(input: { port: number; servers: BalancedServer[]; check: HealthCheck; log: Logger }): Promise<Balancer> {
  const log = input.log.child({ module: 'demo-balancer' });
  const states = new Map(input.servers.map((s) => [s.name, { up: false, streak: 0 } as CheckState]));
  let next = 0;
  let redispatched = 0;
  const pick = (avoid: Set<string>): BalancedServer | undefined => {
    const healthy = input.servers.filter((s) => states.get(s.name)?.up && !avoid.has(s.name));
    return healthy.length ? healthy[next++ % healthy.length] : undefined;
  };

  const checkAll = () => Promise.all(input.servers.map(async (s) => {
    const passed = await fetch(`http://127.0.0.1:${s.healthPort}${input.check.path}`, { signal: AbortSignal.timeout(input.check.timeoutMs) })
      .then((r) => { void r.body?.cancel(); return r.status === 200; }, () => false);
    states.set(s.name, nextCheckState(states.get(s.name) as CheckState, passed, input.check));
  }));
  const timer = setInterval(() => void checkAll(), input.check.interMs);

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => forward(req, res, Buffer.concat(chunks), new Set()));
  });
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, tried: Set<string>): void => {
    const target = pick(tried);
    if (!target || tried.size >= ATTEMPTS) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('no server available\n');
      return;
    }
    tried.add(target.name);
    const upstream = http.request({
      host: '127.0.0.1', port: target.appPort, method: req.method, path: req.url, headers: { ...req.headers, connection: 'close' }, agent: false,
    }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.setTimeout(10_000, () => upstream.destroy(new Error('server timeout')));
    upstream.once('error', (err) => {
      log.debug({ server: target.name, err: err.message }, 'retrying on another server');
      if (res.headersSent) return void res.destroy();
      redispatched += 1;
      forward(req, res, body, tried);
    });
    upstream.end(body);
  };

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(input.port, '127.0.0.1', () => resolveListen());
  });
  return {
    kind: 'node',
    description: 'the built-in Node proxy',
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    pid: null,
    async serverStates() {
      return Object.fromEntries([...states].map(([name, s]) => [name, describeCheckState(s, input.check)]));
    },
    async retries() {
      return { retried: 0, redispatched };
    },
    async stop() {
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
