import type { LimitDefinition } from '../core/types.js';
import type { TierLimits } from './options.js';

/**
 * The dimensions of a call. A Sluice decision charges one cost to all its limits, so a call is decided
 * as one decision per dimension (requests cost 1, tokens the reservation, cost the priced estimate...),
 * all sent at once (on Redis, coalesced into one round trip), and undone together when one refuses.
 */
export const DIMENSIONS = ['requests', 'tokens', 'input', 'output', 'cost'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** One limit of one dimension, for one key of one Sluice tenant. */
export interface LlmCheck {
  limit: LimitDefinition & { name: string; limit: number };
  key?: string;
}

/** The checks of one decision: one dimension, one Sluice tenant. */
export interface CheckGroup {
  dimension: Dimension;
  tenant: string;
  checks: LlmCheck[];
  /** Whether what the call used beyond its reservation is charged here at settlement (all but requests). */
  settles: boolean;
  /** Kept even when another dimension refuses the call (a pool's activity: demand counts, not admission). */
  keep?: boolean;
  /** A fixed cost instead of the dimension's units. */
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
): Array<{ dimension: Dimension; check: LlmCheck }> {
  const out: Array<{ dimension: Dimension; check: LlmCheck }> = [];
  for (const row of ROWS) {
    const value = limits[row.field];
    if (value === undefined) continue;
    const size = row.dimension === 'cost' ? Math.round(value * unitsPerDollar) : value;
    out.push({
      dimension: row.dimension,
      check: {
        limit: {
          name: `${scope}:${row.suffix}`,
          algorithm: row.algorithm,
          limit: Math.max(1, size),
          window: row.window,
        },
        key,
      },
    });
  }
  if (limits.concurrent !== undefined) {
    out.push({
      dimension: 'requests',
      check: {
        limit: {
          name: `${scope}:concurrent`,
          algorithm: 'concurrency',
          limit: limits.concurrent,
          window: leaseTtl,
        },
        key,
      },
    });
  }
  return out;
}

/** Groups checks by dimension for one Sluice tenant (empty dimensions left out). */
export function groupChecks(
  tenant: string,
  entries: ReadonlyArray<{ dimension: Dimension; check: LlmCheck }>,
): CheckGroup[] {
  const groups = new Map<Dimension, CheckGroup>();
  for (const { dimension, check } of entries) {
    let group = groups.get(dimension);
    if (!group) {
      group = { dimension, tenant, checks: [], settles: dimension !== 'requests' };
      groups.set(dimension, group);
    }
    group.checks.push(check);
  }
  return [...groups.values()];
}

/** Whether a tier's limits need a price (they hold a money budget). */
export function needsPrice(limits: TierLimits): boolean {
  return limits.costPerDay !== undefined || limits.costPerMonth !== undefined;
}
