// `herd agent`: load the config, start the agent, stop it on SIGTERM or SIGINT. Reached from
// the full CLI (main.ts) and from the entry point's short path (cli.ts), which never loads
// the operator commands.
import { childInstaller } from '../bundle/install-in-child.ts';
import { Agent } from '../daemon/index.ts';
import { configFilePath, loadConfig } from '../config.ts';
import { describeError, reportFailure } from '../errors.ts';
import { compactHeapWhileIdle } from '../heap-compaction.ts';
import { createLogger } from '../log.ts';
import { VERSION } from '../version.ts';

/**
 * `herd agent` from the entry point's short path: the agent until a signal stops it, or the
 * exit code of why it could not start, reported by this copy of errors.ts (the executable
 * carries the agent in a bundle of its own, whose error classes the entry point's are not).
 */
export async function runAgentCommand(flags: { config?: string }): Promise<number> {
  try {
    return await runAgent(flags);
  } catch (err) {
    return reportFailure(err);
  }
}

/** Runs the agent until a signal stops it; never returns. */
export async function runAgent(flags: { config?: string }): Promise<never> {
  const load = () => loadConfig(flags.config !== undefined ? { file: flags.config } : {});
  const config = load();
  const log = createLogger({ level: config.logLevel, fd: 1 });
  const agent = new Agent({
    config, log, version: VERSION, baseEnv: hostEnvForApp(), reloadConfig: load,
    configFile: configFilePath(flags.config), install: childInstaller(),
  });
  const stop = (signal: string) => {
    void agent.stop(signal).then(() => process.exit(0), (err) => {
      log.error({ err: describeError(err) }, 'error while stopping');
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  const compaction = compactHeapWhileIdle({ log });
  await agent.start();
  // The first release is up: what booting it took is garbage now.
  compaction.compactNow();
  return new Promise<never>(() => {});
}

/** The part of the agent's environment an app inherits; everything else it is given explicitly. */
function hostEnvForApp(): Record<string, string> {
  const keep = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'NODE_EXTRA_CA_CERTS'];
  const env: Record<string, string> = {};
  for (const key of keep) if (process.env[key]) env[key] = process.env[key] as string;
  env.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  return env;
}
