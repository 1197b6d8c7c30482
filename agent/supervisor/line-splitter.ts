// Splits a text stream into lines without ever holding more than `maxChars` of one line,
// so an app that prints a huge line (or binary junk with no newline) cannot grow the
// agent's memory. Pure: the caller feeds chunks and gets each line back through onLine.

export interface LineSplitterInput {
  /** Longest line kept; the rest of a longer line is dropped and the line marked truncated. */
  maxChars: number;
  onLine: (line: string, truncated: boolean) => void;
}

export interface LineSplitter {
  /** Feed the next decoded chunk; calls onLine for every line it completes. */
  push(chunk: string): void;
  /** The stream ended: a last line without a trailing newline is still reported. */
  end(): void;
}

export function createLineSplitter(input: LineSplitterInput): LineSplitter {
  const maxChars = Math.max(1, Math.floor(input.maxChars));
  let pending = '';
  let truncated = false;

  const emit = (): void => {
    let line = pending.endsWith('\r') ? pending.slice(0, -1) : pending;
    let cut = truncated;
    if (line.length > maxChars) {
      line = line.slice(0, maxChars);
      cut = true;
    }
    input.onLine(line, cut);
    pending = '';
    truncated = false;
  };

  // Keep at most maxChars (+1 for a possible '\r' before the newline) of the current line.
  const append = (text: string): void => {
    const room = maxChars + 1 - pending.length;
    if (text.length <= room) {
      pending += text;
      return;
    }
    pending += text.slice(0, Math.max(0, room));
    truncated = true;
  };

  return {
    push(chunk: string): void {
      let start = 0;
      for (let nl = chunk.indexOf('\n', start); nl !== -1; nl = chunk.indexOf('\n', start)) {
        append(chunk.slice(start, nl));
        emit();
        start = nl + 1;
      }
      if (start < chunk.length) append(chunk.slice(start));
    },
    end(): void {
      if (pending.length > 0 || truncated) emit();
    },
  };
}
