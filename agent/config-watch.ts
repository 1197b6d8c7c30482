// Notices a changed agent config file and calls back once per settled change. It polls the
// file's stat (fs.watchFile), which sees editors that write in place and ones that replace
// the file by rename alike, and a file that comes back after it was deleted; a poll a second
// costs one stat. Node's own watcher, not chokidar, because the agent watches one file for
// months and chokidar kept 0.6 MB more of an idle agent's memory (docs/agent.md, "Memory").
import { statSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import type { Logger } from './log.ts';

export interface ConfigWatchInput {
  file: string;
  log: Logger;
  onChange: () => void;
  /** How long the file must stay unchanged before onChange runs: a write in progress settles first. */
  settleMs?: number;
  pollMs?: number;
}

export function watchConfigFile(input: ConfigWatchInput): () => Promise<void> {
  const log = input.log.child({ module: 'config-watch' });
  const settleMs = input.settleMs ?? 200;
  let settling: NodeJS.Timeout | undefined;
  const changed = (current: Stats, previous: Stats) => {
    clearTimeout(settling);
    // A missing file stats as all zeros: keep the running config until one is back.
    if (current.nlink === 0 && current.mtimeMs === 0) {
      log.warn({ file: input.file }, 'config file is gone; keeping the running config');
      return;
    }
    const event = previous.mtimeMs === 0 ? 'add' : 'change';
    const settled = (seen: Stats) => {
      // Still being written (or replaced again) since the poll saw it: wait for it to settle.
      const now = statSync(input.file, { throwIfNoEntry: false });
      if (now === undefined) return;
      if (now.mtimeMs !== seen.mtimeMs || now.size !== seen.size || now.ino !== seen.ino) {
        settling = setTimeout(settled, settleMs, now);
        return;
      }
      log.info({ file: input.file, event }, 'config file changed');
      input.onChange();
    };
    settling = setTimeout(settled, settleMs, current);
  };
  watchFile(input.file, { interval: input.pollMs ?? 1000, persistent: false }, changed);
  return async () => {
    clearTimeout(settling);
    unwatchFile(input.file, changed);
  };
}
