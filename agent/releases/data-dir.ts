// The data directory (docs/agent.md): blobs/, releases/<id>/, current, state.json, and
// channel-trust.json (the newest signed channel followed, for agents with trustedKeys).
// A release directory appears only complete: it is built under releases/.staging-* and
// renamed into place, so an agent killed at any point never runs half a release.
import { chmod, mkdir, mkdtemp, readFile, readdir, readlink, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { parseJson, parseWith } from '../validate.ts';
import { IntegrityError } from '../errors.ts';
import { hexOf } from '../store/layout.ts';
import { releaseManifestSchema, type ReleaseManifest } from '../store/schemas.ts';
import { fsyncDir, swapSymlink, writeFileAtomic } from './atomic.ts';
import { emptyState, localStateSchema, type LocalState } from './state.ts';
import { trustRecordSchema, type TrustRecord } from '../signing/channel-trust.ts';

export const MANIFEST_FILE = 'manifest.json';
const STAGING_PREFIX = '.staging-';
/** How atomic.ts names a file or link while it is being written: `.<name>.<12 hex>.tmp`. */
const ATOMIC_TEMP = /^\..+\.[0-9a-f]{12}\.tmp$/;

export interface InstalledRelease {
  id: string;
  manifest: ReleaseManifest;
  dir: string;
  codeDir: string;
  configDir: string;
}

export class DataDir {
  readonly root: string;
  readonly blobsDir: string;
  readonly releasesDir: string;
  readonly currentLink: string;
  readonly stateFile: string;
  readonly trustFile: string;
  private readonly log: Logger;

  constructor(input: { root: string; log: Logger }) {
    this.root = input.root;
    this.blobsDir = join(input.root, 'blobs');
    this.releasesDir = join(input.root, 'releases');
    this.currentLink = join(input.root, 'current');
    this.stateFile = join(input.root, 'state.json');
    this.trustFile = join(input.root, 'channel-trust.json');
    this.log = input.log.child({ module: 'releases' });
  }

  /** Creates the layout and removes leftovers of an apply that was cut short. */
  async init(): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true, mode: 0o755 });
    await mkdir(this.releasesDir, { recursive: true, mode: 0o755 });
    for (const name of await readdir(this.releasesDir)) {
      if (name.startsWith(STAGING_PREFIX) || name.endsWith('.tmp')) {
        await rm(join(this.releasesDir, name), { recursive: true, force: true });
        this.log.info({ leftover: name }, 'removed an unfinished release directory');
      }
    }
    for (const name of await readdir(this.blobsDir)) {
      if (name.endsWith('.part') || name.endsWith('.tmp')) await rm(join(this.blobsDir, name), { force: true });
    }
    // Temp names of writeFileAtomic/swapSymlink (state.json, identity.json, the `current` swap) cut short.
    for (const name of await readdir(this.root)) {
      if (ATOMIC_TEMP.test(name)) await rm(join(this.root, name), { force: true });
    }
  }

  releaseDir(id: string): string {
    return join(this.releasesDir, id);
  }

  blobFile(digest: string): string {
    return join(this.blobsDir, hexOf(digest));
  }

  async hasBlob(digest: string): Promise<boolean> {
    return exists(this.blobFile(digest));
  }

  /** A release that is on disk, complete, or null. */
  async readRelease(id: string): Promise<InstalledRelease | null> {
    const dir = this.releaseDir(id);
    let text: string;
    try {
      text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
    } catch {
      return null;
    }
    const where = join(dir, MANIFEST_FILE);
    const manifest = parseWith(releaseManifestSchema, parseJson(text, where, (m) => new IntegrityError(m)), where, (m) => new IntegrityError(m));
    return { id, manifest, dir, codeDir: join(dir, 'code'), configDir: join(dir, 'config') };
  }

  /** A fresh staging directory, 0755 like the rest of the tree: mkdtemp makes it 0700, and it
   *  becomes releases/<id>, which the app must traverse when it runs as appUser. */
  async createStaging(id: string): Promise<string> {
    const dir = await mkdtemp(join(this.releasesDir, `${STAGING_PREFIX}${id}-`));
    await chmod(dir, 0o755);
    return dir;
  }

  /** Moves a finished staging directory into place as releases/<id>. */
  async commitStaging(staging: string, id: string): Promise<void> {
    await fsyncDir(staging);
    await rename(staging, this.releaseDir(id));
    await fsyncDir(this.releasesDir);
  }

  async discardStaging(staging: string): Promise<void> {
    await rm(staging, { recursive: true, force: true });
  }

  /** The release `current` points at, or null. */
  async currentRelease(): Promise<string | null> {
    try {
      const target = await readlink(this.currentLink);
      return target.split('/').filter(Boolean).pop() ?? null;
    } catch {
      return null;
    }
  }

  async setCurrent(id: string): Promise<void> {
    await swapSymlink(this.currentLink, join('releases', id));
  }

  /** state.json, or an empty state when absent or unreadable (logged, never fatal). */
  async readState(): Promise<LocalState> {
    let text: string;
    try {
      text = await readFile(this.stateFile, 'utf8');
    } catch {
      return emptyState();
    }
    const parsed = localStateSchema.safeParse(safeJson(text));
    if (!parsed.success) {
      this.log.warn({ file: this.stateFile }, 'state.json is unreadable; starting with an empty state');
      return emptyState();
    }
    return parsed.data;
  }

  async writeState(state: LocalState): Promise<void> {
    await writeFileAtomic(this.stateFile, `${JSON.stringify(state, null, 2)}\n`);
  }

  /**
   * The newest signed channel this instance followed, or null when there is none. An
   * unreadable file is logged and read as none: the next signed channel is then trusted as
   * the first one was.
   */
  async readChannelTrust(): Promise<TrustRecord | null> {
    const text = await readFile(this.trustFile, 'utf8').catch(() => null);
    if (text === null) return null;
    const parsed = trustRecordSchema.safeParse(safeJson(text));
    if (!parsed.success) {
      this.log.warn({ file: this.trustFile }, 'channel-trust.json is unreadable; the next signed channel is trusted as a first one');
      return null;
    }
    return parsed.data;
  }

  async writeChannelTrust(record: TrustRecord): Promise<void> {
    await writeFileAtomic(this.trustFile, `${JSON.stringify(record, null, 2)}\n`);
  }

  async listReleases(): Promise<string[]> {
    return (await readdir(this.releasesDir)).filter((n) => !n.startsWith('.'));
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
