/**
 * Prometheus metrics of Sluice (`sluice/metrics`, prom-client as an optional peer dependency): one
 * observer of decisions (pass it as `observer` to a Limiter or PolicyLimiter, or let the HTTP adapters
 * and the service pass it), plus gauges read at scrape time from what is watched (`watch`).
 * Every series, its labels and the seed metric it stands for are listed in README (Observability).
 */
import { Counter, Histogram, Registry } from 'prom-client';
import type { DecisionEvent, DecisionObserver, ObservedSource } from '../core/observer.js';
import { labelsOf, OUTCOMES, violationsOf } from './outcome.js';
import { registerScraped } from './scraped.js';
import { TopLabels } from './top-labels.js';

export interface MetricsOptions {
  /** Where the series are registered. Default: a new Registry (read it from `metrics.registry`). */
  registry?: Registry;
  /** Prefix of every series name. Default `sluice_`. */
  prefix?: string;
  /**
   * Opt-in per-tenant series (`<prefix>tenant_decisions_total{tenant, outcome}`): the `top` busiest
   * tenants of each `intervalMs` by decisions (default 20 per 60 s) get their own label, the rest
   * `other`: the series stay bounded whatever tenants an attacker mints.
   */
  tenantLabels?: { top?: number; intervalMs?: number };
  /**
   * Opt-in per-identity violations (`<prefix>identity_violations_total{identity}`, the identity being
   * the request's user, else its IP, else the decision's key), capped like `tenantLabels` (default
   * the 20 most violating per 60 s, the rest `other`): what the mass-violation alert reads.
   */
  identityLabels?: { top?: number; intervalMs?: number };
  /** Buckets of the decision-duration histogram, in seconds. */
  buckets?: number[];
  /** Clock of the tenant ranking (ms). Default Date.now. */
  clock?: () => number;
}

/** What `watch` reads at scrape time (see ObservedSource). */
export type MetricsSource = ObservedSource;

/** The StoreError codes a decision's `storeError` can carry (see src/stores, src/resilience). */
const STORE_FAILURE_CODES = [
  'ERR_SLUICE_STORE',
  'ERR_SLUICE_STORE_UNAVAILABLE',
  'ERR_SLUICE_STORE_TIMEOUT',
  'ERR_SLUICE_STORE_FULL',
  'ERR_SLUICE_CIRCUIT_OPEN',
];
const DEFAULT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export class SluiceMetrics implements DecisionObserver {
  readonly registry: Registry;
  private readonly decisions: Counter<string>;
  private readonly duration: Histogram<string>;
  private readonly violations: Counter<string>;
  private readonly blocks: Counter<string>;
  private readonly storeFailures: Counter<string>;
  private readonly tenantDecisions: Counter<string> | undefined;
  private readonly topTenants: TopLabels | undefined;
  private readonly identityViolations: Counter<string> | undefined;
  private readonly topIdentities: TopLabels | undefined;
  private readonly sources: MetricsSource[] = [];
  private readonly prefix: string;

  constructor(options: MetricsOptions = {}) {
    this.registry = options.registry ?? new Registry();
    this.prefix = options.prefix ?? 'sluice_';
    const registers = [this.registry];
    const p = this.prefix;
    this.decisions = new Counter({
      name: `${p}decisions_total`,
      help: 'Decisions by outcome, deciding policy, scope, mode, tier and path (seed 002 rate_limit_requests_total)',
      labelNames: ['outcome', 'policy', 'scope', 'mode', 'tier', 'path'],
      registers,
    });
    this.duration = new Histogram({
      name: `${p}decision_duration_seconds`,
      help: 'Time to decide, by store and deciding path (seed 002 rate_limit_decision_time_seconds)',
      labelNames: ['store', 'path'],
      buckets: options.buckets ?? DEFAULT_BUCKETS,
      registers,
    });
    this.violations = new Counter({
      name: `${p}violations_total`,
      help: 'Policies whose limits refused a request, enforced or in shadow (seed 000 tenant_rate_limit_violations_total)',
      labelNames: ['policy', 'scope', 'mode'],
      registers,
    });
    this.blocks = new Counter({
      name: `${p}blocks_total`,
      help: 'Requests refused by an enforced limit or block (seed 000 tenant_rate_limit_blocks_total)',
      labelNames: ['policy', 'scope', 'reason'],
      registers,
    });
    this.storeFailures = new Counter({
      name: `${p}store_failures_total`,
      help: 'Decisions the store could not make, by error code (seed 001 redis_connection_failures, seed 003 cache_failures_total)',
      labelNames: ['code'],
      registers,
    });
    // The codes a store failure can have exist at 0 from the start: increase() then counts the first ones.
    for (const code of STORE_FAILURE_CODES) this.storeFailures.inc({ code }, 0);
    const tenants = options.tenantLabels;
    if (tenants) {
      const counter = new Counter({
        name: `${p}tenant_decisions_total`,
        help: 'Decisions of the busiest tenants (the rest as "other"), by outcome (seed 003 tenant_ratelimit_total)',
        labelNames: ['tenant', 'outcome'],
        registers,
      });
      this.tenantDecisions = counter;
      this.topTenants = new TopLabels(
        tenants.top ?? 20,
        tenants.intervalMs ?? 60_000,
        options.clock ?? Date.now,
        (dropped) => {
          // remove() matches whole label sets: one per outcome.
          for (const tenant of dropped) for (const outcome of OUTCOMES) counter.remove({ tenant, outcome });
        },
      );
    }
    const identities = options.identityLabels;
    if (identities) {
      const counter = new Counter({
        name: `${p}identity_violations_total`,
        help: 'Violations of the most violating identities (user, else IP, else key; the rest as "other") (seed 002 mass violations)',
        labelNames: ['identity'],
        registers,
      });
      this.identityViolations = counter;
      this.topIdentities = new TopLabels(
        identities.top ?? 20,
        identities.intervalMs ?? 60_000,
        options.clock ?? Date.now,
        (dropped) => {
          for (const identity of dropped) counter.remove({ identity });
        },
      );
    }
    registerScraped(this.prefix, this.registry, this.sources);
  }

  /** Counts one decision. Never throws. */
  decided({ decision, durationMs, request }: DecisionEvent): void {
    try {
      const labels = labelsOf(decision);
      this.decisions.inc({ ...labels });
      this.duration.observe({ store: decision.backend, path: decision.path }, durationMs / 1000);
      const violations = violationsOf(decision);
      for (const v of violations) this.violations.inc(v);
      if (labels.outcome === 'rejected' || labels.outcome === 'blocked' || labels.outcome === 'shed') {
        this.blocks.inc({ policy: labels.policy, scope: labels.scope, reason: decision.reason });
      }
      if (decision.storeError) this.storeFailures.inc({ code: decision.storeError.code });
      if (this.topIdentities && this.identityViolations && violations.length > 0) {
        const identity = request?.user ?? request?.ip ?? decision.key ?? decision.tenant;
        this.identityViolations.inc({ identity: this.topIdentities.label(identity) });
      }
      if (this.topTenants && this.tenantDecisions) {
        this.tenantDecisions.inc({ tenant: this.topTenants.label(decision.tenant), outcome: labels.outcome });
      }
    } catch {
      // Metrics never fail a decision.
    }
  }

  /** Reads `source` at every scrape (several sources add up). */
  watch(source: MetricsSource): void {
    this.sources.push(source);
  }

  /** The exposition text, as a `/metrics` endpoint serves it. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
