// How the single executable reaches the full CLI. scripts/sea.mjs embeds main.ts, bundled as
// CommonJS, as the asset herd-cli.cjs beside the main script, which carries the agent alone;
// it is compiled here only when a command other than a plain `herd agent` runs. Its require()
// gets Node's builtins: everything else is in the bundle.
import type * as Cli from './main.ts';

export const CLI_ASSET = 'herd-cli.cjs';

export async function loadCli(): Promise<typeof Cli> {
  const { getAsset } = process.getBuiltinModule('node:sea');
  const { compileFunction } = process.getBuiltinModule('node:vm');
  const source = getAsset(CLI_ASSET, 'utf8');
  const module = { exports: {} as typeof Cli };
  const requireBuiltin = (id: string): unknown => {
    const builtin = process.getBuiltinModule(id);
    if (builtin === undefined) throw new Error(`${CLI_ASSET} requires ${id}, which is not one of Node's builtins`);
    return builtin;
  };
  compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: CLI_ASSET })(
    module.exports, requireBuiltin, module, CLI_ASSET, '.');
  return module.exports;
}
