// What commands print: a line for people or one JSON document for scripts on stdout,
// and progress on stderr only when stderr is a terminal.
import { hostname, userInfo } from 'node:os';

export interface Output {
  json: boolean;
  result(human: string, data: Record<string, unknown>): void;
  info(line: string): void;
  progress(label: string, total: number): (done: number) => void;
}

export function createOutput(input: { json: boolean; stdout?: NodeJS.WriteStream; stderr?: NodeJS.WriteStream }): Output {
  const stdout = input.stdout ?? process.stdout;
  const stderr = input.stderr ?? process.stderr;
  return {
    json: input.json,
    result(human, data) {
      stdout.write(input.json ? `${JSON.stringify(data)}\n` : `${human}\n`);
    },
    info(line) {
      if (!input.json) stderr.write(`${line}\n`);
    },
    progress(label, total) {
      if (!stderr.isTTY || input.json) return () => {};
      let last = -1;
      return (done) => {
        const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
        if (pct === last) return;
        last = pct;
        const width = 30;
        const filled = Math.round((pct / 100) * width);
        stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% ${formatBytes(done)}/${formatBytes(total)}`);
        if (pct === 100) stderr.write('\n');
      };
    },
  };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Who made a change, for the channel's updatedBy. */
export function actor(): string {
  let user = 'unknown';
  try { user = userInfo().username; } catch { /* no passwd entry */ }
  return `${user}@${hostname()}`;
}
