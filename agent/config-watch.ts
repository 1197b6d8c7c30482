// Notices a changed agent config file (chokidar: editors that write in place and ones that
// replace the file by rename alike) and calls back once per settled change.
import { watch } from 'chokidar';
import type { Logger } from './log.ts';

export function watchConfigFile(input: { file: string; log: Logger; onChange: () => void; settleMs?: number }): () => Promise<void> {
  const log = input.log.child({ module: 'config-watch' });
  const watcher = watch(input.file, {
    ignoreInitial: true,
    awaitWriteFinish: { stabilityThreshold: input.settleMs ?? 200, pollInterval: 50 },
  });
  const changed = (event: string) => {
    log.info({ file: input.file, event }, 'config file changed');
    input.onChange();
  };
  watcher.on('change', () => changed('change'));
  watcher.on('add', () => changed('add'));
  watcher.on('error', (err) => log.warn({ err: String(err) }, 'config file watch failed'));
  return () => watcher.close();
}
