// Pure: what /status and the instance report show, derived from the conditions, the
// runner and what the agent remembers. Nothing here is stored.
import { INSTANCE_SCHEMA, type InstanceReport } from '../store/schemas.ts';
import { instanceState, isHealthy, lastError, type AppView, type Conditions } from './conditions.ts';
import type { Memory, Parts } from './context.ts';

export interface AgentView {
  parts: Parts | null;
  conditions: Conditions;
  memory: Memory;
  desired: string | null;
  version: string;
  startedAt: Date;
}

function appOf(parts: Parts | null): AppView {
  const runner = parts?.runner;
  return { release: runner?.release?.id ?? null, state: runner?.state ?? 'idle', healthy: runner?.healthy ?? false, lastError: runner?.lastError ?? null };
}

export function statusOf(view: AgentView): Record<string, unknown> {
  const { parts, conditions, memory } = view;
  const app = appOf(parts);
  return {
    identity: parts?.identity ?? null,
    state: instanceState(conditions, app),
    healthy: isHealthy(conditions, app),
    draining: conditions.is('Draining') || conditions.is('Terminating'),
    release: app.release,
    desired: view.desired,
    pid: parts?.runner.pid ?? null,
    restarts: parts?.runner.restarts ?? 0,
    lastError: lastError(conditions, app),
    termination: memory.termination?.reason ?? null,
    launchHook: memory.launchHook,
    lastKnownGood: memory.local.lastKnownGood,
    failedReleases: Object.keys(memory.local.failed),
    channelGeneration: memory.channel?.kind === 'found' ? memory.channel.channel.generation : null,
    trustedChannel: trustedChannelOf(memory),
    sources: parts?.sources.names ?? [],
    conditions: conditions.list(),
    agentVersion: view.version,
    startedAt: view.startedAt.toISOString(),
  };
}

export function reportOf(view: AgentView): InstanceReport | null {
  const identity = view.parts?.identity;
  if (!identity) return null;
  const app = appOf(view.parts);
  return {
    schema: INSTANCE_SCHEMA,
    instanceId: identity.instanceId, role: identity.role, az: identity.az, region: identity.region,
    release: app.release, desired: view.desired,
    state: instanceState(view.conditions, app), healthy: isHealthy(view.conditions, app), lastError: lastError(view.conditions, app),
    failedReleases: Object.keys(view.memory.local.failed), agentVersion: view.version, updatedAt: new Date().toISOString(),
  };
}

/** With trustedKeys: the newest signed channel followed here (channel-trust.json), which an older one cannot replace. */
function trustedChannelOf(memory: Memory): Record<string, unknown> | null {
  const record = memory.channelTrust.record;
  return record && { generation: record.generation, expiresAt: record.expiresAt, keyId: record.keyId, trustedAt: record.trustedAt };
}
