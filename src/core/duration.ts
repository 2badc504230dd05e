import { ValidationError } from './errors.js';

/** A duration: milliseconds as a number, or a string such as "1500ms", "90s", "5m", "1h", "1d", "1h30m". */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/y;

/** Longest accepted duration (10 years): beyond it a window is a configuration mistake, not a limit. */
export const MAX_DURATION_MS = 10 * 365 * 86_400_000;

/**
 * Parses a duration into whole milliseconds. Rejects empty, negative, fractional-millisecond, unit-less
 * strings and anything past {@link MAX_DURATION_MS}, naming `field` in the error.
 */
export function parseDuration(value: unknown, field: string): number {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (text === '') throw invalid(field, value, 'is empty');
    ms = 0;
    PART.lastIndex = 0;
    while (PART.lastIndex < text.length) {
      const start = PART.lastIndex;
      const match = PART.exec(text);
      if (!match || match.index !== start) {
        throw invalid(field, value, 'expected a number followed by ms, s, m, h, d or w (for example "90s")');
      }
      ms += Number(match[1]) * (UNIT_MS[match[2]!] as number);
    }
  } else {
    throw invalid(field, value, 'must be a number of milliseconds or a string such as "1s", "5m", "1h"');
  }
  if (!Number.isFinite(ms) || ms <= 0) throw invalid(field, value, 'must be greater than zero');
  if (!Number.isInteger(ms)) throw invalid(field, value, 'must be a whole number of milliseconds');
  if (ms > MAX_DURATION_MS) throw invalid(field, value, 'must be at most 10 years');
  return ms;
}

/** Shortest exact label for a duration in ms, e.g. 1000 -> "1s", 90000 -> "90s", 3600000 -> "1h". */
export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] as number;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

function invalid(field: string, value: unknown, why: string): ValidationError {
  return new ValidationError('ERR_SLUICE_INVALID_DURATION', field, `${JSON.stringify(value)} ${why}`);
}
