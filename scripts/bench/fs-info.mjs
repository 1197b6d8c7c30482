// What filesystem the benchmark writes to, and whether it is one where earlier deletions
// slow file creation down (ext4 without a journal checks every candidate inode for a
// recent deletion), so the printed results can say so.
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';

/** The mount holding `path`: the longest mount point that prefixes its real path. */
function mountOf(path) {
  const real = realpathSync(path);
  let best = null;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const parts = line.split(' ');
    const sep = parts.indexOf('-');
    if (sep < 0) continue;
    const point = parts[4].replace(/\\040/g, ' ');
    const inside = real === point || real.startsWith(point.endsWith('/') ? point : `${point}/`);
    if (inside && (!best || point.length >= best.point.length)) best = { point, type: parts[sep + 1], source: parts[sep + 2] };
  }
  return best;
}

/** { type, source, warning } for the filesystem of `path`; warning is null when none applies. */
export function describeFilesystem(path) {
  statSync(path);
  const mount = mountOf(path) ?? { type: 'unknown', source: 'unknown' };
  let warning = null;
  if (mount.type === 'ext4' && mount.source.startsWith('/dev/')) {
    try {
      const task = readFileSync(`/sys/fs/ext4/${basename(mount.source)}/journal_task`, 'utf8').trim();
      if (task === '<none>') {
        warning = 'ext4 without a journal: files deleted in the last minutes (an earlier bench run, a test suite) ' +
          'make creating files slower for both sides; rerun after a few idle minutes if the times look inflated';
      }
    } catch {
      // no sysfs entry: nothing to say
    }
  }
  return { type: mount.type, source: mount.source, warning };
}
