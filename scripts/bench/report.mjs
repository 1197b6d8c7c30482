// Numbers and the printed table for the pull benchmark. Pure formatting.

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export const MB = 1024 * 1024;
export const mb = (bytes) => (bytes === null || bytes === undefined ? 'n/a' : `${(bytes / MB).toFixed(1)} MB`);
export const secs = (s) => `${s.toFixed(2)} s`;
export const ratio = (a, b) => (a === null || b === null || !b ? 'n/a' : `${(a / b).toFixed(2)}x`);

/** A plain-text table: first row is the header, columns padded to their widest cell. */
export function formatTable(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  const line = (r) => r.map((cell, c) => String(cell).padEnd(widths[c])).join('  ').trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

export const verdict = (ok) => (ok === null ? 'n/a' : ok ? 'PASS' : 'MISS');
