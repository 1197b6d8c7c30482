// The instance report: written soon after a change (changes within the debounce go into one
// write; a write asked for while one is under way follows it), and every heartbeat even
// when nothing changed, so `herd status` can tell an idle instance from a dead one. Best
// effort: a failed write is logged, never thrown.
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { InstanceReport } from '../store/schemas.ts';

/** Changes within this window go into one report write (a roll makes several). */
export const REPORT_DEBOUNCE_MS = 500;
/** An idle instance still rewrites its report this often. */
export const REPORT_HEARTBEAT_MS = 60_000;

export interface ReporterInput {
  /** The report as of now, or null while there is nothing to report (no identity yet). */
  build: () => InstanceReport | null;
  /** Writes it (to the first source that takes it). */
  write: (report: InstanceReport) => Promise<void>;
  log: Logger;
}

export class Reporter {
  private readonly input: ReporterInput;
  private debounce: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private again = false;
  private closed = false;

  constructor(input: ReporterInput) {
    this.input = input;
  }

  /** Something in the report changed: write it soon. */
  changed(): void {
    if (this.debounce || this.closed) return;
    this.debounce = setTimeout(() => {
      this.debounce = null;
      void this.write();
    }, REPORT_DEBOUNCE_MS);
  }

  /** Writes now (after any write under way) and stops the timers: the last report. */
  async close(): Promise<void> {
    this.closed = true;
    this.clearTimers();
    await this.writing;
    await this.writeNow();
  }

  private async write(): Promise<void> {
    if (this.writing) {
      this.again = true;
      return;
    }
    await this.writeNow();
  }

  private async writeNow(): Promise<void> {
    this.writing = (async () => {
      do {
        this.again = false;
        this.armHeartbeat();
        const report = this.input.build();
        if (!report) return;
        await this.input.write(report).catch((err: unknown) => {
          this.input.log.warn({ err: describeError(err) }, 'cannot write the instance report');
        });
      } while (this.again);
    })().finally(() => { this.writing = null; });
    await this.writing;
  }

  private armHeartbeat(): void {
    if (this.heartbeat) clearTimeout(this.heartbeat);
    this.heartbeat = this.closed ? null : setTimeout(() => void this.write(), REPORT_HEARTBEAT_MS);
    this.heartbeat?.unref();
  }

  private clearTimers(): void {
    if (this.debounce) clearTimeout(this.debounce);
    if (this.heartbeat) clearTimeout(this.heartbeat);
    this.debounce = null;
    this.heartbeat = null;
  }
}
