/**
 * Usage tallies: what a store keeps of settled LLM calls, per tenant and hour (llm/usage.ts lays out
 * the keys and gives them meaning). Three kinds of key, all of one tenant's hash tag:
 *
 * - a totals hash: per series (e.g. `openai:gpt-4o`), whole-number counters (USAGE_FIELDS);
 * - an identities index: a sorted set of the hour's identities, scored by what they used;
 * - one hash per identity, laid out like the totals.
 *
 * Bounded: a hash holds at most `maxSeries` series (past it, a new series is counted in
 * `overflowSeries`), an index at most `maxIdentities` identities (past it, a new identity is counted
 * in the totals only, not on its own). Every key expires `ttlMs` after its last write. Never on a
 * decision's path: written when a call settles, read by operators and reports.
 */
import { ValidationError } from '../core/errors.js';

/**
 * The counters of a series, as hash fields `<series>|<field>`: calls, input tokens, output tokens,
 * cached input tokens, cost in nano-dollars (whole numbers, so sums are exact).
 */
export const USAGE_FIELDS = ['c', 'i', 'o', 'k', 'n'] as const;

/** One settled call's usage, added to the hour's keys in one atomic call. */
export interface UsageWrite {
  /** The tenant's totals of the hour. */
  readonly totalsKey: string;
  /** The hour's identities index (a sorted set). */
  readonly identitiesKey: string;
  /** The identity's own counters of the hour. */
  readonly identityKey: string;
  /** Member of the index. */
  readonly identity: string;
  /** Series counted (no `|`). */
  readonly series: string;
  /** Where a new series is counted once a hash holds `maxSeries` (no `|`). */
  readonly overflowSeries: string;
  /** One whole number (>= 0) per USAGE_FIELDS. */
  readonly counts: readonly number[];
  /** Added to the identity's score in the index (whole, >= 0). */
  readonly score: number;
  readonly maxSeries: number;
  readonly maxIdentities: number;
  readonly ttlMs: number;
}

/** Where a write was counted. */
export interface UsageWritten {
  /** The identity had (or got) its place in the index and its own hash; false: in the totals only. */
  readonly identityKept: boolean;
  /** The series had (or got) its place in the totals; false: counted in `overflowSeries`. */
  readonly seriesKept: boolean;
}

/** A read over several hours: hashes summed series by series, indexes summed identity by identity. */
export interface UsageRead {
  /** Totals or identity hashes (at most MAX_USAGE_KEYS), of one hash tag. */
  readonly seriesKeys: readonly string[];
  /** Identities indexes (at most MAX_USAGE_KEYS), of the same hash tag. */
  readonly identitiesKeys?: readonly string[];
  /** How many of the highest-scored identities to return (default 0). */
  readonly top?: number;
}

export interface UsageSums {
  /** Per series, the sums of its USAGE_FIELDS counters, in that order. */
  readonly series: ReadonlyArray<readonly [series: string, counts: number[]]>;
  /** The `top` identities by summed score, highest first (ties: by name). */
  readonly identities: ReadonlyArray<readonly [identity: string, score: number]>;
  /** Distinct identities across the indexes read. */
  readonly identityCount: number;
}

/** Upper bounds of a usage call (a read covers at most 31 days of hours). */
export const MAX_USAGE_KEYS = 24 * 31;
export const MAX_USAGE_SERIES = 10_000;
export const MAX_USAGE_IDENTITIES = 1_000_000;
export const MAX_USAGE_TOP = 1_000;

/** Checks a write before it reaches a store (every store calls it): a bad one changes nothing. */
export function validateUsageWrite(write: UsageWrite): void {
  for (const name of ['series', 'overflowSeries'] as const) {
    const value = write[name];
    if (typeof value !== 'string' || value.length === 0 || value.includes('|')) {
      throw invalid(name, 'must be a non-empty string without "|"');
    }
  }
  if (write.counts.length !== USAGE_FIELDS.length || !write.counts.every(isCount)) {
    throw invalid('counts', `must be ${USAGE_FIELDS.length} whole numbers >= 0`);
  }
  if (!isCount(write.score)) throw invalid('score', 'must be a whole number >= 0');
  bounded(write.maxSeries, MAX_USAGE_SERIES, 'maxSeries');
  bounded(write.maxIdentities, MAX_USAGE_IDENTITIES, 'maxIdentities');
  bounded(write.ttlMs, Number.MAX_SAFE_INTEGER, 'ttlMs');
}

/** Checks a read: key counts and `top` within their bounds. */
export function validateUsageRead(read: UsageRead): void {
  if (read.seriesKeys.length > MAX_USAGE_KEYS) throw invalid('seriesKeys', `at most ${MAX_USAGE_KEYS}`);
  if ((read.identitiesKeys?.length ?? 0) > MAX_USAGE_KEYS) {
    throw invalid('identitiesKeys', `at most ${MAX_USAGE_KEYS}`);
  }
  if (read.top !== undefined && !(isCount(read.top) && read.top <= MAX_USAGE_TOP)) {
    throw invalid('top', `must be a whole number from 0 to ${MAX_USAGE_TOP}`);
  }
}

function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function bounded(value: number, max: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw invalid(field, `must be a whole number from 1 to ${max}`);
  }
}

function invalid(field: string, message: string): ValidationError {
  return new ValidationError('ERR_SLUICE_INVALID_OPTION', `usage.${field}`, message);
}
