// How the entry point reaches the agent in dist/herd.mjs: chunks of its own, loaded for a
// plain `herd agent`. The single executable swaps this file for load-agent-sea.ts
// (scripts/sea.mjs).
import type * as AgentRun from './commands/agent-run.ts';

export function loadAgent(): Promise<typeof AgentRun> {
  return import('./commands/agent-run.ts');
}
