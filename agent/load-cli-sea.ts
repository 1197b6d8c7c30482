// How the single executable reaches the full CLI. scripts/sea.mjs embeds main.ts, bundled as
// CommonJS, as the asset herd-cli.cjs beside the main script; it is compiled only when a
// command other than a plain `herd agent` runs.
import type * as Cli from './main.ts';
import { runAsset } from './sea-assets.ts';

export const CLI_ASSET = 'herd-cli.cjs';

export async function loadCli(): Promise<typeof Cli> {
  return runAsset<typeof Cli>(CLI_ASSET);
}
