// How the single executable reaches the agent: scripts/sea.mjs embeds commands/agent-run.ts,
// bundled as CommonJS, as the asset herd-agent.cjs, with the code V8 compiled for it at build
// time under the agent's flags (lite mode: agent-v8.ts) as herd-agent.cache.
import type * as AgentRun from './commands/agent-run.ts';
import { runAsset } from './sea-assets.ts';

export const AGENT_ASSET = 'herd-agent.cjs';
export const AGENT_CACHE_ASSET = 'herd-agent.cache';

export async function loadAgent(): Promise<typeof AgentRun> {
  return runAsset<typeof AgentRun>(AGENT_ASSET, AGENT_CACHE_ASSET);
}
