// Writes the entries the policy allows into a staging directory. Filesystem calls are
// synchronous on purpose: entries are applied strictly in archive order (a later entry
// sees every earlier one on disk, which the policy's reasoning relies on), a small file
// costs three syscalls instead of three thread-pool round trips, and the parser never
// has to buffer. Each call is short; the event loop gets a turn between chunks, and
// gunzip and hashing run beside it.
import { chmodSync, closeSync, constants, linkSync, mkdirSync, openSync, symlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ReadEntry } from 'tar';
import { HerdError, UnsafeArchiveError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { createEntryPolicy, type ArchiveLimits, type EntryPlan, type EntryPolicy } from './entry-policy.ts';
import { TarSink } from './tar-sink.ts';

export interface ExtractSinkInput {
  /** Absolute path of an existing, empty directory that nothing else writes to. */
  dir: string;
  limits: ArchiveLimits;
  log: Logger;
}

export interface ExtractResult {
  entries: number;
  bytes: number;
}

// O_EXCL fails on any existing path, symlinks included; O_NOFOLLOW says so twice.
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** A Writable of plain tar bytes that extracts into `dir`, refusing the archive on any unsafe entry. */
export class ExtractSink extends TarSink {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #policy: EntryPolicy;
  #openFd: number | undefined;
  #droppedModeBits = 0;

  constructor(input: ExtractSinkInput) {
    super();
    this.#dir = input.dir;
    this.#log = input.log;
    this.#policy = createEntryPolicy(input.limits);
    this.once('finish', () => {
      if (this.#droppedModeBits > 0) {
        this.#log.warn({ entries: this.#droppedModeBits }, 'dropped setuid/setgid/sticky bits from archive entries');
      }
    });
  }

  /** What was extracted; complete once the stream has finished. */
  result(): ExtractResult {
    return { entries: this.#policy.entries, bytes: this.#policy.bytes };
  }

  protected override onEntry(entry: ReadEntry): void {
    const plan = this.#policy.plan(entry);
    if (plan.kind === 'skip') {
      entry.resume();
      return;
    }
    if (entry.mode !== undefined && (entry.mode & 0o7000) !== 0) this.#droppedModeBits += 1;
    try {
      for (const parent of plan.parents) mkdirSync(this.#abs(parent), { mode: 0o755 });
      switch (plan.kind) {
        case 'directory':
          if (plan.exists) chmodSync(this.#abs(plan.path), plan.mode);
          else mkdirSync(this.#abs(plan.path), { mode: plan.mode });
          break;
        case 'file':
          this.#writeFile(entry, plan);
          return; // the entry's data and end events finish the file
        case 'symlink':
          symlinkSync(plan.target, this.#abs(plan.path));
          break;
        case 'hardlink':
          linkSync(this.#abs(plan.target), this.#abs(plan.path));
          break;
      }
    } catch (err) {
      throw describeFailure(err, plan.path);
    }
    entry.resume(); // nothing to keep from a non-file body
  }

  protected override onFailure(): void {
    try {
      this.#closeOpenFile();
    } catch {
      // the fd is released either way; the original failure is what matters
    }
  }

  #abs(path: string): string {
    return join(this.#dir, path);
  }

  #writeFile(entry: ReadEntry, plan: Extract<EntryPlan, { kind: 'file' }>): void {
    this.#openFd = openSync(this.#abs(plan.path), CREATE_FLAGS, plan.mode);
    entry.on('end', () => {
      try {
        this.#closeOpenFile();
      } catch (err) {
        this.fail(describeFailure(err, plan.path));
      }
    });
    entry.on('data', (chunk: Buffer) => {
      if (this.#openFd === undefined) return; // the sink failed; the parser is draining
      try {
        this.#policy.countBytes(chunk.length, entry.path);
        writeAll(this.#openFd, chunk);
      } catch (err) {
        this.fail(describeFailure(err, plan.path));
      }
    });
  }

  #closeOpenFile(): void {
    if (this.#openFd === undefined) return;
    const fd = this.#openFd;
    this.#openFd = undefined;
    closeSync(fd);
  }
}

function writeAll(fd: number, chunk: Buffer): void {
  let offset = 0;
  while (offset < chunk.length) offset += writeSync(fd, chunk, offset, chunk.length - offset);
}

/** A refusal stays as it is; a filesystem error names the entry it happened on. */
function describeFailure(err: unknown, path: string): Error {
  if (err instanceof HerdError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'EEXIST' || code === 'ELOOP' || code === 'ENOTDIR') {
    return new UnsafeArchiveError(`entry ${JSON.stringify(path)}: collides with an earlier entry (${message})`, { cause: err });
  }
  return new HerdError(`extracting ${JSON.stringify(path)}: ${message}`, { cause: err });
}
