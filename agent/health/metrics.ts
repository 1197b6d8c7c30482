// The agent's Prometheus metrics on a registry of its own (never prom-client's global one,
// so two agents in one process, e.g. the demo or tests, never collide). The runner
// updates them; the health server only renders them.
import { Counter, Gauge, Registry, collectProcessMetrics } from './prom.ts';

export interface AgentMetrics {
  registry: Registry;
  /** 1 while the app's own health check passes. */
  appHealthy: Gauge;
  /** 1 while the app process runs. */
  appUp: Gauge;
  /** Restarts after the app exited on its own. */
  appRestarts: Counter;
  /** 1 for the running release; see setRelease. */
  releaseInfo: Gauge<'release'>;
  /** Bundle fetches by result (e.g. ok, cached, failed, refused). */
  fetches: Counter<'result'>;
  fetchBytes: Counter;
  /** Channel polls by result (e.g. unchanged, changed, failed). */
  channelPolls: Counter<'result'>;
  /** 1 while /healthz is held at 503 to drain the instance. */
  draining: Gauge;
  /** Make `release` the only series of herd_release_info at 1; null when nothing runs. */
  setRelease(release: string | null): void;
}

export function createMetrics(): AgentMetrics {
  const registry = new Registry();
  collectProcessMetrics(registry);
  const registers = [registry];

  const releaseInfo = new Gauge({
    name: 'herd_release_info', help: 'The release this instance runs (value 1).', labelNames: ['release'] as const, registers,
  });
  return {
    registry,
    appHealthy: new Gauge({ name: 'herd_app_healthy', help: 'Whether the app passes its own health check (0/1).', registers }),
    appUp: new Gauge({ name: 'herd_app_up', help: 'Whether the app process is running (0/1).', registers }),
    appRestarts: new Counter({ name: 'herd_app_restarts_total', help: 'Restarts of the app after it exited on its own.', registers }),
    releaseInfo,
    fetches: new Counter({ name: 'herd_fetches_total', help: 'Bundle fetches by result.', labelNames: ['result'] as const, registers }),
    fetchBytes: new Counter({ name: 'herd_fetch_bytes_total', help: 'Bundle bytes downloaded from the store.', registers }),
    channelPolls: new Counter({ name: 'herd_channel_polls_total', help: 'Channel polls by result.', labelNames: ['result'] as const, registers }),
    draining: new Gauge({ name: 'herd_draining', help: 'Whether the instance is draining (/healthz held at 503) (0/1).', registers }),
    setRelease(release: string | null): void {
      releaseInfo.reset();
      if (release !== null) releaseInfo.set({ release }, 1);
    },
  };
}
