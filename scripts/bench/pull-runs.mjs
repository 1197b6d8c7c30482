// One timed pull of each kind into a fresh directory of the work dir: `herd pull` and the
// shell baseline on the same blob. Each run is checked afterwards (untimed): the right
// number of files must have landed, or the bench fails rather than report a number.
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { measure } from './procs.mjs';
import { MB, mb } from './report.mjs';

/**
 * input: { herdFile, env, work, log }. Returns { herdPull, baselinePull, blobUrl, decideKeep }.
 *
 * Run output stays until the work dir is removed, unless space is short: on ext4 without
 * a journal, creating a file skips every inode freed in the last minute or more (ext4's
 * recently_deleted check), so deleting 7,000 files before each run made the next run's
 * file creation several times slower, for herd and baseline alike, and buried the
 * difference between them in kernel time.
 */
export function createPullRuns(input) {
  const { herdFile, env, work, log } = input;
  const rssFile = join(work, 'rss.txt');
  let counter = 0;
  let keep = true;
  const discard = async (dir) => {
    if (!keep) await rm(dir, { recursive: true, force: true });
  };

  return {
    /** Keep every run's output when it fits with a margin; else remove each after its check. */
    async decideKeep(bytesNeeded) {
      const { bavail, bsize } = await statfs(work);
      const free = bavail * bsize;
      keep = free > bytesNeeded * 1.2 + 1024 * MB;
      if (!keep) log(`only ${mb(free)} free for ${mb(bytesNeeded)} of run output: removing each run's output after it (file creation may slow down)`);
    },

    /** The blob's plain GET URL; s3rver serves unsigned GETs, else the baseline signs with curl. */
    async blobUrl(endpoint, bucket, digest) {
      const url = `${endpoint}/${bucket}/herd/blobs/sha256/${digest.slice('sha256:'.length)}`;
      const res = await fetch(url, { method: 'HEAD' });
      if (res.ok) return { url, curlArgs: '' };
      log(`unsigned GET refused (${res.status}); signing the baseline's request with curl --aws-sigv4`);
      return { url, curlArgs: `--aws-sigv4 'aws:amz:us-east-1:s3' --user '${env.AWS_ACCESS_KEY_ID}:${env.AWS_SECRET_ACCESS_KEY}'` };
    },

    /** `herd pull` of the role's channel into a fresh data dir: { seconds, peakRss }. */
    async herdPull(store, role, expectedFiles) {
      const dataDir = join(work, `run-${++counter}-herd`);
      settle();
      const r = await measure(process.execPath, [herdFile, 'pull', ...store, '--role', role, '--data-dir', dataDir, '--json'], { env, rssFile });
      const out = JSON.parse(r.stdout);
      if (!out.fetched) throw new Error(`herd pull did not fetch: ${r.stdout}`);
      await checkFiles(join(out.dir, 'code'), expectedFiles, 'herd pull');
      await discard(dataDir);
      return r;
    },

    /** The shell pipeline on the same blob into a fresh directory: { seconds, peakRss }. */
    async baselinePull({ url, curlArgs }, expectedFiles) {
      const dir = join(work, `run-${++counter}-base`);
      await mkdir(dir);
      settle();
      const script = `set -o pipefail; curl -s ${curlArgs} '${url}' | tee >(sha256sum >/dev/null) | tar xz -C '${dir}'`;
      const r = await measure('bash', ['-c', script], { env, rssFile });
      await checkFiles(dir, expectedFiles, 'baseline');
      await discard(dir);
      return r;
    },
  };
}

/** Write back the previous run's dirty pages first, so no run pays for another's. */
function settle() {
  spawnSync('sync');
}

async function checkFiles(dir, expected, who) {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).length;
  if (files !== expected) throw new Error(`${who} extracted ${files} files into ${dir}, expected ${expected}`);
}
