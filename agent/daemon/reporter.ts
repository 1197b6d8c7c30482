// The instance report: written soon after a change (changes within the debounce go into one
// write; a write asked for while one is under way follows it), and every heartbeat even
// when nothing changed, so `herd status` can tell an idle instance from a dead one. Best
// effort: a failed write is logged, never thrown. When to write is nextReportAt's answer,
// a pure function the fleet simulation (npm run bench:scale) uses too.
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { InstanceReport } from '../store/schemas.ts';

/** Changes within this window go into one report write (a roll makes several). */
export const REPORT_DEBOUNCE_MS = 500;

/** What the report's timing depends on. */
export interface ReportTimes {
  /** When the first change not yet written happened; null when none waits. */
  pendingSince: number | null;
  /** When the last write began; null before the first. */
  lastWriteAt: number | null;
}

/**
 * Pure: when the next report write is due: the debounce after the first unwritten change, or
 * a heartbeat after the last write, whichever comes first; null when nothing is due (nothing
 * written yet and nothing changed).
 */
export function nextReportAt(t: ReportTimes, heartbeatMs: number, debounceMs: number = REPORT_DEBOUNCE_MS): number | null {
  const changed = t.pendingSince === null ? Infinity : t.pendingSince + debounceMs;
  const heartbeat = t.lastWriteAt === null ? Infinity : t.lastWriteAt + heartbeatMs;
  const at = Math.min(changed, heartbeat);
  return at === Infinity ? null : at;
}

export interface ReporterInput {
  /** The report as of now, or null while there is nothing to report (no identity yet). */
  build: () => InstanceReport | null;
  /** Writes it (to the first source that takes it). */
  write: (report: InstanceReport) => Promise<void>;
  /** How often an idle instance rewrites its report (reportHeartbeatS), read at each write. */
  heartbeatMs: () => number;
  log: Logger;
  now?: () => number;
}

export class Reporter {
  private readonly input: ReporterInput;
  private readonly now: () => number;
  private times: ReportTimes = { pendingSince: null, lastWriteAt: null };
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private again = false;
  private closed = false;

  constructor(input: ReporterInput) {
    this.input = input;
    this.now = input.now ?? Date.now;
  }

  /** Something in the report changed: write it soon. */
  changed(): void {
    if (this.closed || this.times.pendingSince !== null) return;
    this.times = { ...this.times, pendingSince: this.now() };
    this.arm();
  }

  /** Writes now (after any write under way) and stops the timer: the last report. */
  async close(): Promise<void> {
    this.closed = true;
    this.disarm();
    await this.writing;
    await this.writeNow();
  }

  /** The timer for the next write, as nextReportAt says; the heartbeat alone does not keep the process alive. */
  private arm(): void {
    this.disarm();
    const at = this.closed ? null : nextReportAt(this.times, this.input.heartbeatMs());
    if (at === null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.write();
    }, Math.max(0, at - this.now()));
    if (this.times.pendingSince === null) this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
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
        this.times = { pendingSince: null, lastWriteAt: this.now() };
        this.arm();
        const report = this.input.build();
        if (!report) return;
        await this.input.write(report).catch((err: unknown) => {
          this.input.log.warn({ err: describeError(err) }, 'cannot write the instance report');
        });
      } while (this.again);
    })().finally(() => { this.writing = null; });
    await this.writing;
  }
}
