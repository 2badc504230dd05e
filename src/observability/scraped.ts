/**
 * The series read at scrape time from what the metrics watch (ObservedSource): gauges of state now,
 * and counters whose totals the sources keep (added as increments, so that they stay counters).
 * Several sources add up (a breaker's state: the worst of them; platform and configuration: the first
 * that says).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ObservedSource } from '../core/observer.js';

/** Seed 002's encoding of the breaker state; platform protection's breaker is encoded alike. */
const BREAKER_STATE: Record<string, number> = { closed: 0, open: 1, 'half-open': 2 };

export function registerScraped(prefix: string, registry: Registry, sources: ObservedSource[]): void {
  const registers = [registry];
  const sum = (read: (s: ObservedSource) => number | undefined) =>
    sources.reduce((total, s) => total + (read(s) ?? 0), 0);
  const first = <T>(read: (s: ObservedSource) => T | null | undefined): T | undefined => {
    for (const s of sources) {
      const value = read(s);
      if (value != null) return value;
    }
    return undefined;
  };
  const gauge = (name: string, help: string, value: () => number) =>
    new Gauge({
      name: prefix + name,
      help,
      registers,
      collect() {
        this.set(value());
      },
    });

  gauge(
    'circuit_breaker_state',
    'Circuit breaker state: 0 closed, 1 open, 2 half-open (seed 002 circuit_breaker_state; the worst of the watched)',
    () =>
      sources.reduce((worst, s) => Math.max(worst, BREAKER_STATE[s.breaker?.()?.state ?? 'closed'] ?? 0), 0),
  );
  total(`${prefix}circuit_breaker_opened_total`, 'Times the circuit breaker opened', registers, () =>
    sum((s) => s.breaker?.()?.opened),
  );
  gauge(
    'active_keys',
    'Keys held by the in-process store (seed 002 rate_limit_active_limits, seed 003 active_windows)',
    () => sum((s) => s.activeKeys?.()),
  );
  total(`${prefix}store_round_trips_total`, 'Store round trips (script calls)', registers, () =>
    sum((s) => s.roundTrips?.()),
  );
  gauge(
    'platform_state',
    'Platform protection: 0 closed (no shedding), 1 open (shedding), 2 half-open (recovering)',
    () => BREAKER_STATE[first((s) => s.platform?.())?.state ?? 'closed'] ?? 0,
  );
  gauge(
    'platform_shed_level',
    'Tiers shed by platform protection now (0: none)',
    () => first((s) => s.platform?.())?.shedLevel ?? 0,
  );
  gauge(
    'config_version',
    'Version of the runtime configuration in force',
    () => first((s) => s.config?.())?.version ?? 0,
  );
  total(`${prefix}config_reload_errors_total`, 'Failed configuration refreshes and reloads', registers, () =>
    sum((s) => s.config?.().reloadErrors),
  );
  totalsByLabel(
    `${prefix}http_requests_flagged_total`,
    "The HTTP core's counters: requests without a tenant, ignored forwarding headers, bad addresses",
    'kind',
    registers,
    sources,
    (s) => s.http?.(),
    [],
  );
  totalsByLabel(
    `${prefix}reputation_adjustments_total`,
    'Reputation adjustments by kind: violations counted, identities blocked (seed 002 rate_limit_reputation_adjustments_total)',
    'kind',
    registers,
    sources,
    (s) => s.reputation?.(),
    ['violation', 'block'],
  );
}

/** A counter whose total is read at scrape time (increments added, so it never goes down). */
function total(name: string, help: string, registers: Registry[], read: () => number): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers,
    collect() {
      const now = read();
      if (now > seen) this.inc(now - seen);
      seen = Math.max(seen, now);
    },
  });
}

/** A counter per label value whose totals the sources keep; `initial` values exist at 0 from the start. */
function totalsByLabel(
  name: string,
  help: string,
  label: string,
  registers: Registry[],
  sources: ObservedSource[],
  read: (s: ObservedSource) => Record<string, number> | undefined,
  initial: string[],
): void {
  const seen = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames: [label],
    registers,
    collect() {
      const totals = new Map<string, number>(initial.map((value) => [value, 0]));
      for (const s of sources) {
        for (const [value, n] of Object.entries(read(s) ?? {}))
          totals.set(value, (totals.get(value) ?? 0) + n);
      }
      for (const [value, n] of totals) {
        const before = seen.get(value) ?? 0;
        this.inc({ [label]: value }, Math.max(0, n - before)); // 0 too: the series exists before it moves
        seen.set(value, Math.max(n, before));
      }
    },
  });
}
