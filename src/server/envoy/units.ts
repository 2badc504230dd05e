/** Envoy's rate limit units (RateLimitResponse.RateLimit.Unit), by name. */
export const UNITS = ['SECOND', 'MINUTE', 'HOUR', 'DAY', 'WEEK', 'MONTH', 'YEAR'] as const;
export type Unit = (typeof UNITS)[number];

/**
 * Seconds per unit, as envoyproxy/ratelimit divides time (a month is 30 days, a year 365): windows
 * start at multiples of the unit since the Unix epoch, so Sluice's fixed windows line up with its.
 */
export const UNIT_SECONDS: Readonly<Record<Unit, number>> = {
  SECOND: 1,
  MINUTE: 60,
  HOUR: 3600,
  DAY: 86_400,
  WEEK: 604_800,
  MONTH: 2_592_000,
  YEAR: 31_536_000,
};

/** Enum numbers on the wire (envoy.type.v3.RateLimitUnit and RateLimitResponse.RateLimit.Unit agree). */
const UNIT_NUMBERS: Readonly<Record<number, Unit>> = {
  1: 'SECOND',
  2: 'MINUTE',
  3: 'HOUR',
  4: 'DAY',
  5: 'MONTH',
  6: 'YEAR',
  7: 'WEEK',
};

/** A unit from its wire form (enum name or number, any case for names); undefined if not a unit. */
export function unitOf(value: unknown): Unit | undefined {
  if (typeof value === 'number') return UNIT_NUMBERS[value];
  if (typeof value !== 'string') return undefined;
  const upper = value.toUpperCase();
  return (UNITS as readonly string[]).includes(upper) ? (upper as Unit) : undefined;
}

/** The unit whose length is exactly `windowMs`, if there is one (policy limits have free windows). */
export function unitOfWindow(windowMs: number): Unit | undefined {
  return UNITS.find((u) => UNIT_SECONDS[u] * 1000 === windowMs);
}

/** Ms until the unit's current window ends, as envoyproxy/ratelimit computes duration_until_reset. */
export function msUntilWindowEnd(unit: Unit, now: number): number {
  const ms = UNIT_SECONDS[unit] * 1000;
  return ms - (((now % ms) + ms) % ms);
}
