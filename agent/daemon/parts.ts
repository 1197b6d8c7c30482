// Builds the agent's parts from one config: sources, data directory, identity, the runner
// of the app. With the parts built from the config before, it keeps those the change does
// not touch (the running app's runner, the identity), so a config change either yields a
// whole new set or throws, leaving the old set as it was.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { resolveAppUser } from '../app-user.ts';
import type { Clock } from '../clock.ts';
import type { AgentConfig } from '../config.ts';
import { describeError, IdentityError } from '../errors.ts';
import type { AgentMetrics } from '../health/metrics.ts';
import { ImdsClient } from '../identity/imds-client.ts';
import { AutoScalingHooks } from '../lifecycle/auto-scaling.ts';
import { resolveIdentity } from '../identity/resolve.ts';
import type { Identity } from '../identity/types.ts';
import type { Logger } from '../log.ts';
import { writeFileAtomic } from '../releases/atomic.ts';
import { DataDir } from '../releases/data-dir.ts';
import { parseTrustedKeys } from '../signing/keys.ts';
import { ObjectStore } from '../store/object-store.ts';
import { Sources } from '../store/sources.ts';
import { backoffDelay } from '../supervisor/backoff.ts';
import { ReleaseRunner } from '../supervisor/release-runner.ts';
import type { Parts } from './context.ts';

export interface BuildPartsInput {
  config: AgentConfig;
  /** The parts built from the config before, to keep what the change does not touch. */
  prev?: Parts;
  log: Logger;
  metrics: AgentMetrics;
  clock: Clock;
  /** Host environment the app inherits (PATH, LANG, ...). */
  baseEnv: Record<string, string>;
  makeEc2?: (region: string) => EC2Client | Promise<EC2Client>;
  /** The runner's health or state changed. */
  onRunnerChange: () => void;
  /** Ends identity retries early. */
  signal: AbortSignal;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** True when the app must be started again under the new parts (who it is, where, as whom, on which port). */
export function appSettingsChanged(prev: AgentConfig, next: AgentConfig): boolean {
  return !same(prev.identity, next.identity) || prev.appPort !== next.appPort || prev.appUser !== next.appUser || prev.dataDir !== next.dataDir;
}

export async function buildParts(input: BuildPartsInput): Promise<Parts> {
  const { config, prev, log, metrics } = input;
  const sources = new Sources({
    stores: config.sources.map((source) => new ObjectStore({ source, log })), log,
    onChannelRead: (result) => metrics.channelPolls.inc({ result }),
  });
  const dataDir = prev && prev.config.dataDir === config.dataDir ? prev.dataDir : new DataDir({ root: config.dataDir, log });
  if (dataDir !== prev?.dataDir) await dataDir.init();
  const keepIdentity = prev && same(prev.config.identity, config.identity);
  const imds = keepIdentity ? prev.imds : metadataClient(config, log);
  const identity = keepIdentity ? prev.identity : await identityOrCached({ ...input, imds });
  const autoScaling = keepIdentity && same(prev.config.autoScaling, config.autoScaling) ? prev.autoScaling : hooksFor(config, identity, log);
  const trusted = parseTrustedKeys(config.trustedKeys);
  if (prev && !appSettingsChanged(prev.config, config)) return { config, trusted, sources, dataDir, identity, imds, autoScaling, runner: prev.runner };
  // Look appUser up (and check it can reach the releases) before anything stops: a bad new
  // setting must not leave the instance without its app.
  const user = await resolveAppUser({ appUser: config.appUser, agentUid: process.getuid?.() ?? null, dataDir: config.dataDir });
  const runner = new ReleaseRunner({
    identity,
    ...(config.appPort !== undefined ? { appPort: config.appPort } : {}),
    ...(user ? { user } : {}),
    configDir: join(dataDir.currentLink, 'config'),
    appRecordFile: join(dataDir.root, 'app.pid'),
    baseEnv: input.baseEnv, metrics, log, random: input.clock.random,
    onChange: input.onRunnerChange,
  });
  return { config, trusted, sources, dataDir, identity, imds, autoScaling, runner };
}

/** The lifecycle hooks to complete, when the config names any. */
function hooksFor(config: AgentConfig, identity: Identity, log: Logger): AutoScalingHooks | null {
  const { launchHook, terminateHook } = config.autoScaling;
  if (!launchHook && !terminateHook) return null;
  return new AutoScalingHooks({ instanceId: identity.instanceId, region: identity.region, launchHook, terminateHook, log });
}

/** One metadata client (and its token) for identity and termination notices. */
function metadataClient(config: AgentConfig, log: Logger): ImdsClient | null {
  const identity = config.identity;
  if (identity.provider !== 'imds') return null;
  return new ImdsClient({ log, ...(identity.endpoint ? { endpoint: identity.endpoint } : {}), timeoutMs: identity.timeoutMs });
}

/** Who this instance is; when the metadata service cannot say, what it said before (an instance's identity does not change). */
async function identityOrCached(input: BuildPartsInput & { imds: ImdsClient | null }): Promise<Identity> {
  const { config, log } = input;
  const file = join(config.dataDir, 'identity.json');
  for (let attempt = 1; ; attempt++) {
    try {
      const identity = await resolveIdentity({
        config: config.identity, log, ...(input.makeEc2 ? { makeEc2: input.makeEc2 } : {}), ...(input.imds ? { imds: input.imds } : {}),
      });
      await writeFileAtomic(file, `${JSON.stringify(identity)}\n`).catch(() => {});
      return identity;
    } catch (err) {
      if (!(err instanceof IdentityError) || attempt >= 3 || input.signal.aborted) {
        const cached = await readFile(file, 'utf8').then((t) => JSON.parse(t) as Identity).catch(() => null);
        if (cached && err instanceof IdentityError) {
          log.warn({ err: describeError(err) }, 'metadata service unavailable; using the identity cached in the data directory');
          return cached;
        }
        throw err;
      }
      await input.clock.sleep(backoffDelay(attempt, { baseMs: 500, maxMs: 4_000, jitter: input.clock.random }), input.signal);
    }
  }
}
