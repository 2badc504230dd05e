/** Where a command writes: process.stdout/stderr, or anything with write() in tests. */
export interface Output {
  write(text: string): unknown;
}

/** One JSON document (what `--json` prints), pretty and newline-terminated. */
export function printJson(out: Output, value: unknown): void {
  out.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
}

/** Infinity (a cost that never fits) survives as a string rather than null. */
function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

/** Rows as an aligned table under a header; an empty list prints `empty` instead. */
export function printTable(out: Output, header: string[], rows: string[][], empty = '(none)'): void {
  if (rows.length === 0) {
    out.write(`${empty}\n`);
    return;
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  out.write(`${[header, ...rows].map(line).join('\n')}\n`);
}

/** Label: value lines, labels aligned. */
export function printFields(out: Output, fields: Array<[string, string]>): void {
  const width = Math.max(...fields.map(([k]) => k.length));
  out.write(`${fields.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`).join('\n')}\n`);
}

/** An epoch-ms instant as ISO 8601 (UTC), or `-`. */
export function instant(ms: number | undefined | null): string {
  return typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : '-';
}

/** A window or wait in ms as a short duration: 1500 -> 1.5s, 60000 -> 1m, 3600000 -> 1h. */
export function span(ms: number): string {
  if (!Number.isFinite(ms)) return 'never';
  const units: Array<[string, number]> = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  for (const [unit, size] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`;
}
