// The load balancer in front of the demo fleet: HAProxy when the machine has it (the real
// thing), else a small Node proxy with the same behaviour. Both check each instance's
// /healthz on its health port and send traffic only to the ones that pass.
import type { Logger } from '../agent/log.ts';
import { findHaproxy, startHaproxy } from './haproxy.ts';
import { startNodeBalancer } from './node-balancer.ts';

export interface BalancedServer {
  name: string;
  appPort: number;
  healthPort: number;
}

/** How the balancer checks servers: every `interMs`, down after `fall` failures, up after `rise` passes. */
export interface HealthCheck { path: string; interMs: number; fall: number; rise: number; timeoutMs: number }

export const HEALTH_CHECK: HealthCheck = { path: '/healthz', interMs: 500, fall: 2, rise: 2, timeoutMs: 1_000 };

export interface Balancer {
  kind: 'haproxy' | 'node';
  /** For people: "HAProxy 2.6.12" or "the built-in Node proxy". */
  description: string;
  url: string;
  pid: number | null;
  /** The balancer's view of each server by name: "UP", "DOWN", "UP 1/2" (going down)... */
  serverStates(): Promise<Record<string, string>>;
  /** Requests retried on the same server after a failed attempt, and those sent to another server instead. */
  retries(): Promise<{ retried: number; redispatched: number }>;
  stop(): Promise<void>;
}

export interface BalancerInput {
  dir: string;
  port: number;
  servers: BalancedServer[];
  /** Directories to look for haproxy in (PATH, then the sbin directories). */
  searchPath: string[];
  env: Record<string, string>;
  log: Logger;
  /** Told when HAProxy is missing or refused to start, and the Node proxy is used instead. */
  onFallback: (why: string) => void;
}

export async function startBalancer(input: BalancerInput): Promise<Balancer> {
  const bin = await findHaproxy(input.searchPath);
  if (bin) {
    try {
      return await startHaproxy({ bin, dir: input.dir, port: input.port, servers: input.servers, check: HEALTH_CHECK, env: input.env });
    } catch (err) {
      input.onFallback(`HAProxy (${bin}) did not start: ${(err as Error).message}`);
    }
  } else {
    input.onFallback('HAProxy is not installed (apt-get install haproxy, or your package manager\'s)');
  }
  return startNodeBalancer({ port: input.port, servers: input.servers, check: HEALTH_CHECK, log: input.log });
}
