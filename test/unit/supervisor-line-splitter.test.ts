// How app output is cut into log lines: chunk boundaries, CRLF, the cap, the last line.
import { describe, expect, it } from 'vitest';
import { createLineSplitter } from '../../agent/supervisor/line-splitter.ts';

function split(chunks: string[], maxChars = 10): [string, boolean][] {
  const lines: [string, boolean][] = [];
  const splitter = createLineSplitter({ maxChars, onLine: (line, truncated) => lines.push([line, truncated]) });
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return lines;
}

describe('createLineSplitter', () => {
  it.each<[string, string[], [string, boolean][]]>([
    ['one chunk, two lines', ['a\nb\n'], [['a', false], ['b', false]]],
    ['a line split across chunks', ['ab', 'c\nd', 'e\n'], [['abc', false], ['de', false]]],
    ['a last line without newline', ['a\nlast'], [['a', false], ['last', false]]],
    ['empty lines are kept', ['\n\na\n'], [['', false], ['', false], ['a', false]]],
    ['no output, no lines', [], []],
    ['CRLF endings lose the CR', ['a\r\nb\r', '\n'], [['a', false], ['b', false]]],
    ['a line of exactly the cap', ['0123456789\n'], [['0123456789', false]]],
    ['a line one past the cap', ['0123456789X\n'], [['0123456789', true]]],
    ['a long line in pieces, then a normal one', ['0123456', '789ABCDEF', 'GHI\nok\n'], [['0123456789', true], ['ok', false]]],
    ['a capped line before CRLF', ['0123456789AB\r\n'], [['0123456789', true]]],
    ['a long unterminated last line', ['0123456789ABCDEF'], [['0123456789', true]]],
    ['a CR inside a long line is content', ['0123456789\rX\n'], [['0123456789', true]]],
  ])('%s', (_name, chunks, expected) => {
    expect(split(chunks)).toEqual(expected);
  });
});
