// Entry point of dist/herd.mjs and of the single executable dist/herd. A plain `herd agent`
// (with at most --config), which runs for months on every instance, takes a short path that
// loads the agent alone: never commander, the operator commands or the AWS SDK's S3 client
// they use. Anything else, `herd agent --help` too, goes to the full CLI (main.ts). Exiting
// explicitly keeps idle keep-alive sockets from holding the process open. No top-level
// await: the executable embeds this as CommonJS (scripts/sea.mjs).
import { enterLiteMode } from './agent-v8.ts';
import { reportFailure } from './errors.ts';
import { loadCli } from './load-cli.ts';

/** `agent`, `agent --config FILE` or `agent --config=FILE` as { config? }; null for anything else. */
export function plainAgentFlags(args: string[]): { config?: string } | null {
  if (args[0] !== 'agent') return null;
  const rest = args.slice(1);
  if (rest.length === 0) return {};
  if (rest.length === 1 && rest[0]?.startsWith('--config=') && rest[0].length > '--config='.length) return { config: rest[0].slice('--config='.length) };
  if (rest.length === 2 && rest[0] === '--config' && rest[1] !== undefined && !rest[1].startsWith('-')) return { config: rest[1] };
  return null;
}

async function runAgentAlone(flags: { config?: string }): Promise<number> {
  enterLiteMode();
  try {
    const { runAgent } = await import('./commands/agent-run.ts');
    return await runAgent(flags);
  } catch (err) {
    return reportFailure(err);
  }
}

const agentFlags = plainAgentFlags(process.argv.slice(2));
const exitCode = agentFlags ? runAgentAlone(agentFlags) : loadCli().then(({ main }) => main(process.argv));
void exitCode.then((code) => process.exit(code));
