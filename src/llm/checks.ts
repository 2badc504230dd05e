import type { LimitDefinition } from '../core/types.js';
import type { TierLimits } from './options.js';

/**
 * The dimensions of a call: what each of its limits counts. One Sluice decision asks each limit its own
 * cost (`checks[].cost`): requests 1, tokens the reservation, input and output their parts, money the
 * priced estimate, all at once and atomically, per Sluice tenant (a Cluster slot).
 */
export const DIMENSIONS = ['requests', 'tokens', 'input', 'output', 'cost'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** One limit of one dimension, for one key of one Sluice tenant. */
export interface LlmCheck {
  limit: LimitDefinition & { name: string; limit: number };
  key?: string;
  /** What it counts: it is asked the call's units of this dimension. */
  dimension: Dimension;
}

/** The checks of one atomic decision: one Sluice tenant (one Cluster slot). */
export interface CheckGroup {
  tenant: string;
  checks: LlmCheck[];
  /** Whether settlement gives back or charges the difference here (not a pool's activity, nor a policy). */
  settles: boolean;
  /** Kept even when another group refuses the call (a pool's activity: demand counts, not admission). */
  keep?: boolean;
  /** A fixed cost for every check instead of its dimension's units. */
  cost?: number;
}

/**
 * One object per distinct limit definition, so that the Limiter (which remembers the definitions it
 * validated, by object) validates each once, not on every call. Bounded: cleared when full.
 */
const interned = new Map<string, LlmCheck['limit']>();
const MAX_INTERNED = 10_000;

export function internLimit(limit: LlmCheck['limit']): LlmCheck['limit'] {
  const id = `${limit.name}\u0000${limit.algorithm}\u0000${limit.limit}\u0000${limit.window}\u0000${limit.scope ?? 'key'}`;
  const kept = interned.get(id);
  if (kept) return kept;
  if (interned.size >= MAX_INTERNED) interned.clear();
  interned.set(id, limit);
  return limit;
}

const MINUTE = '1m';
const DAY = '1d';
/** A "month" budget is a 30-day epoch-aligned window (fixed windows are aligned to the epoch, not the calendar). */
const MONTH = '30d';

interface Row {
  field: keyof TierLimits;
  dimension: Dimension;
  suffix: string;
  window: string;
  algorithm: 'sliding-log' | 'fixed-window';
}

/** Minute limits are exact sliding logs; day and month limits are calendar (epoch-aligned) fixed windows. */
const ROWS: readonly Row[] = [
  {
    field: 'requestsPerMinute',
    dimension: 'requests',
    suffix: 'rpm',
    window: MINUTE,
    algorithm: 'sliding-log',
  },
  { field: 'requestsPerDay', dimension: 'requests', suffix: 'rpd', window: DAY, algorithm: 'fixed-window' },
  { field: 'tokensPerMinute', dimension: 'tokens', suffix: 'tpm', window: MINUTE, algorithm: 'sliding-log' },
  { field: 'tokensPerDay', dimension: 'tokens', suffix: 'tpd', window: DAY, algorithm: 'fixed-window' },
  {
    field: 'inputTokensPerMinute',
    dimension: 'input',
    suffix: 'itpm',
    window: MINUTE,
    algorithm: 'sliding-log',
  },
  { field: 'inputTokensPerDay', dimension: 'input', suffix: 'itpd', window: DAY, algorithm: 'fixed-window' },
  {
    field: 'outputTokensPerMinute',
    dimension: 'output',
    suffix: 'otpm',
    window: MINUTE,
    algorithm: 'sliding-log',
  },
  {
    field: 'outputTokensPerDay',
    dimension: 'output',
    suffix: 'otpd',
    window: DAY,
    algorithm: 'fixed-window',
  },
  { field: 'costPerDay', dimension: 'cost', suffix: 'cost-day', window: DAY, algorithm: 'fixed-window' },
  {
    field: 'costPerMonth',
    dimension: 'cost',
    suffix: 'cost-month',
    window: MONTH,
    algorithm: 'fixed-window',
  },
];

/**
 * The checks of a tier's (or a model's) limits, named `<scope>:<suffix>`, e.g. `openai:rpm` or
 * `openai:gpt-4o:tpm`, counted for `key`. Cost budgets become integer cost units.
 */
export function tierChecks(
  scope: string,
  limits: TierLimits,
  key: string,
  unitsPerDollar: number,
  leaseTtl: string | number,
): LlmCheck[] {
  const out: LlmCheck[] = [];
  for (const row of ROWS) {
    const value = limits[row.field];
    if (value === undefined) continue;
    const size = row.dimension === 'cost' ? Math.round(value * unitsPerDollar) : value;
    out.push({
      dimension: row.dimension,
      limit: {
        name: `${scope}:${row.suffix}`,
        algorithm: row.algorithm,
        limit: Math.max(1, size),
        window: row.window,
      },
      key,
    });
  }
  if (limits.concurrent !== undefined) {
    out.push({
      dimension: 'requests',
      limit: {
        name: `${scope}:concurrent`,
        algorithm: 'concurrency',
        limit: limits.concurrent,
        window: leaseTtl,
      },
      key,
    });
  }
  return out;
}

/** Whether a tier's limits need a price (they hold a money budget). */
export function needsPrice(limits: TierLimits): boolean {
  return limits.costPerDay !== undefined || limits.costPerMonth !== undefined;
}
