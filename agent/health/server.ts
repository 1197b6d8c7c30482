// The HTTP server the load balancer checks: /healthz (200 or 503), /status (JSON) and
// /metrics (Prometheus). It reads state through the functions it is given and owns none.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HerdError, describeError } from '../errors.ts';
import { http } from '../http-modules.ts';
import type { Logger } from '../log.ts';
import type { AgentMetrics } from './metrics.ts';

export interface HealthServerInput {
  port: number;
  /** Defaults to every interface, so the load balancer can reach it. */
  host?: string;
  isHealthy: () => boolean;
  /** Anything JSON-able: identity, state, releases, last error. */
  status: () => unknown;
  metrics: AgentMetrics;
  log: Logger;
}

export interface HealthServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  /** Stop listening and drop every connection, idle keep-alive ones included. Idempotent. */
  close(): Promise<void>;
}

export type Route = 'healthz' | 'status' | 'metrics';

/** Which endpoint a request is for, or the HTTP error it gets. Pure. */
export function routeRequest(method: string | undefined, rawUrl: string | undefined): { route: Route } | { error: 404 | 405 } {
  const path = (rawUrl ?? '/').split('?')[0];
  const route = path === '/healthz' ? 'healthz' : path === '/status' ? 'status' : path === '/metrics' ? 'metrics' : undefined;
  if (!route) return { error: 404 };
  if (method !== 'GET' && method !== 'HEAD') return { error: 405 };
  return { route };
}

export function startHealthServer(input: HealthServerInput): Promise<HealthServer> {
  const log = input.log.child({ module: 'health' });
  const host = input.host ?? '0.0.0.0';
  const server = http.createServer((req, res) => {
    void respond(input, req, res).then((status) => {
      log.debug({ method: req.method, path: req.url, status }, 'health request');
    }, (err: unknown) => {
      log.warn({ method: req.method, path: req.url, err: describeError(err) }, 'health request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  // A slow or silent client must not pin a socket for long: these answers are instant.
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;

  return new Promise((resolve, reject) => {
    const onListenError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'the port is already in use' : err.code === 'EACCES' ? 'permission denied' : describeError(err);
      reject(new HerdError(`health server cannot listen on ${host}:${input.port}: ${why}`, { cause: err }));
    };
    server.once('error', onListenError);
    server.listen(input.port, host, () => {
      server.off('error', onListenError);
      server.on('error', (err) => log.warn({ err: describeError(err) }, 'health server error'));
      const port = (server.address() as AddressInfo).port;
      log.info({ host, port }, 'health server listening');
      let closing: Promise<void> | undefined;
      resolve({
        port,
        close(): Promise<void> {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}

/** Answer one request; resolves with the status sent. */
async function respond(input: HealthServerInput, req: IncomingMessage, res: ServerResponse): Promise<number> {
  const routed = routeRequest(req.method, req.url);
  if ('error' in routed) {
    if (routed.error === 405) res.setHeader('allow', 'GET, HEAD');
    const text = routed.error === 404 ? 'not found\n' : 'method not allowed\n';
    return send(res, routed.error, 'text/plain; charset=utf-8', text);
  }
  switch (routed.route) {
    case 'healthz':
      return input.isHealthy()
        ? send(res, 200, 'text/plain; charset=utf-8', 'ok\n')
        : send(res, 503, 'text/plain; charset=utf-8', 'unhealthy\n');
    case 'status':
      return send(res, 200, 'application/json; charset=utf-8', `${JSON.stringify(input.status() ?? null, null, 2)}\n`);
    case 'metrics':
      return send(res, 200, input.metrics.registry.contentType, await input.metrics.registry.metrics());
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): number {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
  return status;
}
