// A read-only HTTP(S) source: a base URL that serves the store's layout, such as a CDN in front
// of the bucket or a static file server filled from it. Object keys are appended to the URL's
// path; requests are plain, unsigned GETs and HEADs over the agent's HTTP exchange (the same
// connections, timeouts, retries and error names as its S3 client). Writes are refused before
// any request: such a source takes none (Sources skips it for reports).
import type { HttpSourceConfig } from '../config.ts';
import { StoreError } from '../errors.ts';
import { VERSION } from '../version.ts';
import { HttpConnections, sendWithRetries, type ObjectClient, type ObjectRequest, type ObjectResponse } from './http-exchange.ts';
import { encodeKeyPath } from './sigv4.ts';

export interface HttpSourceInput {
  source: HttpSourceConfig;
  /** Retry delay before jitter, doubled each retry (default 100 ms, as for S3). */
  retryBaseMs?: number;
}

export class HttpSource implements ObjectClient {
  private readonly base: URL;
  private readonly retryBaseMs: number;
  private readonly connections = new HttpConnections();

  constructor(input: HttpSourceInput) {
    this.base = new URL(input.source.url);
    this.retryBaseMs = input.retryBaseMs ?? 100;
  }

  send(req: ObjectRequest): Promise<ObjectResponse> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return Promise.reject(new StoreError(`${this.base.href.replace(/\/$/, '')} is a read-only HTTP source: it takes no ${req.method}`));
    }
    const protocol = this.base.protocol === 'http:' ? 'http:' : 'https:';
    const port = this.base.port ? Number(this.base.port) : undefined;
    const path = `${this.base.pathname.replace(/\/+$/, '')}/${encodeKeyPath(req.key)}`;
    const headers = { ...req.headers, 'user-agent': `herd/${VERSION}` };
    return sendWithRetries({
      signal: req.signal, retryBaseMs: this.retryBaseMs,
      attempt: () => this.connections.request({
        protocol, hostname: this.base.hostname.replace(/^\[|\]$/g, ''), port, host: this.base.host, path, method: req.method, headers, signal: req.signal,
      }),
    });
  }

  close(): void {
    this.connections.close();
  }
}
