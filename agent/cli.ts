// Entry point of dist/herd.mjs and of the single executable dist/herd. A plain `herd agent`
// (with at most --config), which runs for months on every instance, takes a short path that
// loads the agent alone: never commander, the operator commands or the AWS SDK's S3 client
// they use. Anything else, `herd agent --help` too, goes to the full CLI (main.ts). Exiting
// explicitly keeps idle keep-alive sockets from holding the process open. No top-level
// await: the executable embeds this as CommonJS (scripts/sea.mjs).
import { enterLiteMode } from './agent-v8.ts';
import { reportFailure } from './errors.ts';
import { loadAgent } from './load-agent.ts';
import { loadCli } from './load-cli.ts';
import { plainAgentFlags } from './plain-agent.ts';

async function runAgentAlone(flags: { config?: string }): Promise<number> {
  enterLiteMode();
  try {
    const { runAgentCommand } = await loadAgent();
    return await runAgentCommand(flags);
  } catch (err) {
    return reportFailure(err);
  }
}

/** `herd install-bundle`, the agent's own child (bundle/install-child.ts): loads no more than it needs either. */
async function installBundleChild(request: string | undefined): Promise<number> {
  const { runInstallChild } = await import('./bundle/install-child.ts');
  return runInstallChild(request);
}

const args = process.argv.slice(2);
const agentFlags = plainAgentFlags(args);
const exitCode = agentFlags ? runAgentAlone(agentFlags)
  : args[0] === 'install-bundle' ? installBundleChild(args[1])
    : loadCli().then(({ main }) => main(process.argv));
void exitCode.then((code) => process.exit(code));
