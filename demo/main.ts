// Entry point of dist/demo.mjs, what `npm run demo` runs: the demo's flags, and its errors
// turned into exit codes the way the product does it (0 done, 1 failed, 2 usage). The demo
// is not part of the product; the agents it starts run the product, dist/herd.mjs.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { createOutput } from '../agent/commands/output.ts';
import { describeError, exitCodeOf } from '../agent/errors.ts';
import { runDemo } from './index.ts';

/** Commander's exits that are not failures: it printed the help. */
const HELP_SHOWN = new Set(['commander.helpDisplayed', 'commander.help']);

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('--exit-after takes a number');
  return n;
}

export function buildDemoProgram(): Command {
  return new Command('npm run demo --')
    .description('the whole loop on this machine: a local S3 store, three instances in three zones behind a health-checking load balancer, ' +
      'a second release rolled under traffic, then an outage drill: a zone lost and replaced, the store lost and a fresh instance booted from a mirror')
    .option('--drill-only', 'skip the roll: boot the fleet on the first release, then run the outage drill')
    .option('--keep', 'at the end, leave everything running until Ctrl-C')
    .option('--exit-after <seconds>', 'at the end, leave everything running this long, then stop', seconds)
    .option('--json', 'print a JSON summary for scripts at the end')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .action(async (flags: { json?: boolean; keep?: boolean; exitAfter?: number; drillOnly?: boolean }) => {
      await runDemo({
        out: createOutput({ json: flags.json ?? false }), env: process.env, keep: flags.keep ?? false, drillOnly: flags.drillOnly ?? false,
        ...(flags.exitAfter !== undefined ? { exitAfterS: flags.exitAfter } : {}),
      });
    });
}

/** Runs the demo with `argv`; resolves with the exit code, having printed any error. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildDemoProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return HELP_SHOWN.has(err.code) ? 0 : 2;
    process.stderr.write(`herd demo: ${describeError(err)}\n`);
    return exitCodeOf(err);
  }
}

// Exiting explicitly keeps idle keep-alive sockets from holding the process open.
process.exit(await main(process.argv));
