// An esbuild plugin for herd's ES module bundle: Node's builtins reached by require(), as
// the single executable's CommonJS bundle reaches them, instead of by import. Node gives an
// import of a builtin an ES module facade made of all the builtin's exports, and making it
// reads each one, which loads what the lazy ones stand for: an import of node:http loads
// undici (for http.WebSocket), one of node:fs fs.promises, one of node:util worker_threads,
// util.parseArgs and util.diff. Measured in one process: importing node:util and node:fs
// keeps 3.5 MB more than requiring them. With require, a lazy export loads when it is used.
import { isBuiltin } from 'node:module';

// node:util's lazy exports load even when esbuild only copies the module's property
// descriptors (its __toESM does), so herd's code gets these names of it and no others. A
// build that fails with `No matching export in "herd-builtin:node:util"` names one to add.
const UTIL_EXPORTS = ['isDeepStrictEqual', 'promisify'];

function facade(path) {
  if (path === 'node:util' || path === 'util') {
    return `const util = require("node:util");\n${UTIL_EXPORTS.map((name) => `export const ${name} = util.${name};`).join('\n')}\nexport default util;`;
  }
  return `module.exports = require(${JSON.stringify(path)});`;
}

export const builtinsByRequire = {
  name: 'herd-builtins-by-require',
  setup(b) {
    // Imports only: a require() of a builtin stays one.
    b.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => (
      args.kind !== 'require-call' && args.namespace !== 'herd-builtin' && isBuiltin(args.path) ? { path: args.path, namespace: 'herd-builtin' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'herd-builtin' }, (args) => ({ loader: 'js', contents: facade(args.path), resolveDir: '.' }));
  },
};
