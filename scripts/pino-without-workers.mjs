// An esbuild plugin for herd's bundles: pino without its transports. herd writes its log
// lines itself, synchronously, to stdout or stderr (agent/log.ts), and never starts a pino
// transport, which runs in a worker thread (thread-stream). Without them an idle agent loads
// neither thread-stream nor node:worker_threads, 0.6 MB less resident (docs/agent.md,
// "Memory"). A transport asked for anyway fails loudly.
export const pinoWithoutWorkers = {
  name: 'herd-pino-without-workers',
  setup(b) {
    b.onResolve({ filter: /^thread-stream$/ }, (args) => (args.importer.includes('/pino/') ? { path: 'thread-stream', namespace: 'herd-stub' } : undefined));
    // pino's tools.js asks only whether it runs on the main thread: herd's logger always does.
    b.onResolve({ filter: /^(node:)?worker_threads$/ }, (args) => (/\/pino\/lib\/tools\.js$/.test(args.importer) ? { path: 'worker_threads', namespace: 'herd-stub' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'herd-stub' }, (args) => ({
      loader: 'js',
      contents: args.path === 'worker_threads'
        ? 'module.exports = { isMainThread: true };'
        : 'module.exports = class ThreadStream { constructor() { throw new Error("pino transports are left out of herd (scripts/pino-without-workers.mjs)"); } };',
    }));
  },
};
