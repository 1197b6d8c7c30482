// V8 settings for the agent process alone. The agent runs for months on every instance and
// mostly waits, so it gives up speed it does not need for memory: V8's lite mode (the
// interpreter only, no executable memory, optimize-for-size heuristics), which V8 takes only
// at start-up, so a plain `herd agent` started without it replaces itself (execve: same pid,
// so systemd sees one process) with itself started with it, and with V8's gc()
// (--expose-gc), with which it compacts its heap while idle (heap-compaction.ts). The single
// executable does it too, through --node-options (scripts/sea.mjs). The operator commands,
// `herd pull` included, and the install child (bundle/install-in-child.ts) keep V8's
// defaults. Measured on an idle agent (Node 24.21): the run-time flags below keep 3.6 MB
// less, lite mode 2.4 MB less again.
export const LITE_MODE = '--lite-mode';
/** What heap-compaction.ts needs of V8. */
export const EXPOSE_GC = '--expose-gc';
/** What the agent restarts itself with; scripts/build.mjs compiles the executable's agent under them. */
export const AGENT_FLAGS = [LITE_MODE, EXPOSE_GC];
const RUNTIME_FLAGS = '--optimize-for-size --no-opt --no-maglev --no-sparkplug --max-lazy';

/**
 * Replaces `herd agent ...` with the same command in V8's lite mode, unless it runs in it
 * already. Returns when it does, or when the process is not replaced; then it sets what V8
 * still takes at run time.
 */
export function enterLiteMode(): void {
  if (process.execArgv.includes(LITE_MODE)) return;
  try {
    if (process.execve === undefined) throw new Error('no process.execve');
    const command = process.getBuiltinModule('node:sea').isSea()
      // The executable takes Node flags from --node-options (scripts/sea.mjs); its argv[1] is itself.
      ? [process.execPath, `--node-options=${AGENT_FLAGS.join(' ')}`, ...process.argv.slice(2)]
      : [process.execPath, ...process.execArgv, ...AGENT_FLAGS, ...process.argv.slice(1)];
    process.execve(process.execPath, command, process.env);
  } catch {
    // Not replaceable here (process.execve is Linux and macOS only): the agent runs as it is.
  }
  process.getBuiltinModule('node:v8').setFlagsFromString(RUNTIME_FLAGS);
}
