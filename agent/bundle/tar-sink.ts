// A Node Writable that parses plain (already gunzipped) tar bytes with node-tar's Parser
// and hands each entry to a handler, so tar parsing can sit at the end of an ordinary
// stream.pipeline with backpressure and error propagation. Any failure (a handler
// throwing, a corrupt or truncated tar, an unsupported entry) fails the stream once,
// stops the parser, and surfaces through pipeline so every stage is destroyed.
import { Writable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { HerdError, IntegrityError, UnsafeArchiveError } from '../errors.ts';

export interface TarEntryHandlers {
  /**
   * Called for each entry in archive order. It must consume the entry before returning
   * (attach a 'data' listener, or resume() to discard it): entries are processed
   * synchronously so the parser never buffers. Throwing refuses the whole archive.
   */
  onEntry(entry: ReadEntry): void;
  /** Called once when the sink fails or is destroyed, to release what the handler holds. */
  onFailure?(error: Error): void;
}

type Callback = (error?: Error | null) => void;

export abstract class TarSink extends Writable {
  readonly #parser: Parser;
  #failure: Error | undefined;
  #inWrite = false;
  #waitingWrite: Callback | undefined;
  #waitingFinal: Callback | undefined;

  constructor() {
    super({ highWaterMark: 1 << 18 });
    // strict: every parser warning (bad checksum, truncated input, not a tar) is an error.
    // brotli/zstd off: the input is plain tar, gunzipped by the caller.
    this.#parser = new Parser({ strict: true, brotli: false, zstd: false });
    this.#parser.on('entry', (entry: ReadEntry) => this.#guard(entry, () => this.onEntry(entry)));
    this.#parser.on('ignoredEntry', (entry: ReadEntry) => {
      const why = entry.meta ? 'an oversized extended header' : `an unsupported entry type (${entry.type})`;
      this.#guard(entry, () => {
        throw new UnsafeArchiveError(`entry ${JSON.stringify(entry.path)}: is ${why}`);
      });
    });
    this.#parser.on('error', (err: Error) => this.fail(corruptTar(err)));
    this.#parser.on('drain', () => this.#releaseWrite());
    this.#parser.on('end', () => this.#releaseFinal());
  }

  /** See TarEntryHandlers.onEntry. */
  protected abstract onEntry(entry: ReadEntry): void;

  /** See TarEntryHandlers.onFailure. */
  protected onFailure(_error: Error): void {}

  /** Fail the sink with `error` (the first failure wins). */
  fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#parser.abort(new Error('aborted'));
    try {
      this.onFailure(error);
    } catch {
      // cleanup is best effort; the first error is the one to report
    }
    if (this.#inWrite) return; // _write or _final reports it when the parser returns
    if (this.#waitingWrite || this.#waitingFinal) {
      this.#releaseWrite();
      this.#releaseFinal();
    } else {
      this.destroy(error);
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: Callback): void {
    if (this.#failure) return callback(this.#failure);
    this.#inWrite = true;
    let flowing = true;
    try {
      flowing = this.#parser.write(chunk);
    } catch (err) {
      this.fail(asError(err));
    } finally {
      this.#inWrite = false;
    }
    if (this.#failure || flowing) return callback(this.#failure);
    this.#waitingWrite = callback; // a handler left an entry paused: wait for the parser's drain
  }

  override _final(callback: Callback): void {
    if (this.#failure) return callback(this.#failure);
    this.#waitingFinal = callback;
    this.#inWrite = true;
    try {
      this.#parser.end();
    } catch (err) {
      this.fail(asError(err));
    } finally {
      this.#inWrite = false;
    }
    if (this.#failure) this.#releaseFinal();
  }

  override _destroy(error: Error | null, callback: Callback): void {
    if (!this.#failure) {
      this.#failure = error ?? new Error('tar extraction was stopped');
      this.#parser.abort(new Error('aborted'));
      try {
        this.onFailure(this.#failure);
      } catch {
        // best effort, as in fail()
      }
    }
    this.#releaseWrite();
    this.#releaseFinal();
    callback(error);
  }

  #releaseWrite(): void {
    const callback = this.#waitingWrite;
    this.#waitingWrite = undefined;
    callback?.(this.#failure);
  }

  /** The parser ended (every entry handled) or the sink failed. */
  #releaseFinal(): void {
    const callback = this.#waitingFinal;
    this.#waitingFinal = undefined;
    callback?.(this.#failure);
  }

  #guard(entry: ReadEntry, handle: () => void): void {
    if (this.#failure) {
      entry.resume();
      return;
    }
    try {
      handle();
    } catch (err) {
      this.fail(asError(err)); // first, so entries the resume below lets through are discarded
      entry.resume();
    }
  }
}

/** A TarSink around plain callbacks, for readers that need no state of their own. */
export function createTarSink(handlers: TarEntryHandlers): TarSink {
  return new (class extends TarSink {
    protected override onEntry(entry: ReadEntry): void {
      handlers.onEntry(entry);
    }
    protected override onFailure(error: Error): void {
      handlers.onFailure?.(error);
    }
  })();
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** node-tar's errors (TAR_BAD_ARCHIVE, TAR_ENTRY_INVALID, ...) as IntegrityError. */
function corruptTar(err: Error): Error {
  if (err instanceof HerdError) return err;
  return new IntegrityError(`corrupt tar archive: ${err.message}`, { cause: err });
}
