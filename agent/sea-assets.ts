// Runs a CommonJS script the single executable carries as an asset (scripts/sea.mjs), with
// the code V8 compiled for it at build time when there is some: `cacheAsset` names it, made
// under the very flags the process runs with, or V8 drops it and the script compiles from
// source, with a warning. Its require() gets Node's builtins: everything else is in the bundle.

/** The text a cache is made for, and compiled from: the script wrapped as CommonJS wraps it. */
export function wrapCommonJs(source: string): string {
  return `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
}

export function runAsset<T>(name: string, cacheAsset?: string): T {
  const { getAsset } = process.getBuiltinModule('node:sea');
  const { Script } = process.getBuiltinModule('node:vm');
  const cachedData = cacheAsset === undefined ? undefined : Buffer.from(getAsset(cacheAsset));
  const script = new Script(wrapCommonJs(getAsset(name, 'utf8')), { filename: name, cachedData });
  // Said, not silent: it means the process runs under other flags than the build expected.
  if (cachedData !== undefined && script.cachedDataRejected === true) process.emitWarning(`V8 rejected ${cacheAsset}; ${name} compiled from source`);
  const module = { exports: {} as T };
  const requireBuiltin = (id: string): unknown => {
    const builtin = process.getBuiltinModule(id);
    if (builtin === undefined) throw new Error(`${name} requires ${id}, which is not one of Node's builtins`);
    return builtin;
  };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, requireBuiltin, module, name, '.');
  return module.exports;
}
