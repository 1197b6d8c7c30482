// V8 settings for the agent process alone, made before its code is compiled. The agent runs
// for months on every instance and mostly waits, so it gives up speed it does not need for
// memory: no optimizing or baseline compilers (the interpreter only), and V8's
// optimize-for-size heuristics. An idle agent keeps 3.6 MB less (npm run bench, Node 24.21);
// its own pulls take longer (docs/agent.md gives the figures). The operator commands, `herd
// pull` included, keep V8's defaults.
const AGENT_V8_FLAGS = '--optimize-for-size --no-opt --no-maglev --no-sparkplug --max-lazy';

export function setAgentV8Flags(): void {
  process.getBuiltinModule('node:v8').setFlagsFromString(AGENT_V8_FLAGS);
}
