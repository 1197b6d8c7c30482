// How the entry point reaches the full CLI in dist/herd.mjs: a chunk of its own, loaded only
// when a command other than a plain `herd agent` runs. The single executable swaps this file
// for load-cli-sea.ts (scripts/sea.mjs).
import type * as Cli from './main.ts';

export function loadCli(): Promise<typeof Cli> {
  return import('./main.ts');
}
