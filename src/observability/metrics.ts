/**
 * Prometheus metrics of Sluice (`sluice/metrics`, prom-client as an optional peer dependency): one
 * observer of decisions (pass it as `observer` to a Limiter or PolicyLimiter, or let the HTTP adapters
 * and the service pass it), plus gauges read at scrape time from what is watched (`watch`).
 * Every series, its labels and the seed metric it stands for are listed in README (Observability).
 */
import { Registry } from 'prom-client';
import type { DecisionEvent, DecisionObserver, ObservedSource } from '../core/observer.js';
import type { Decision } from '../core/types.js';
import { labelsOf, violationsOf } from './outcome.js';
import { registerScraped } from './scraped.js';
import { FastCounter, FastHistogram } from './series.js';
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
  private readonly decisions: FastCounter;
  private readonly duration: FastHistogram;
  private readonly violations: FastCounter;
  private readonly blocks: FastCounter;
  private readonly storeFailures: FastCounter;
  private readonly tenants: CappedCounter | undefined;
  private readonly identities: CappedCounter | undefined;
  private readonly sources: MetricsSource[] = [];
  private readonly prefix: string;

  constructor(options: MetricsOptions = {}) {
    this.registry = options.registry ?? new Registry();
    this.prefix = options.prefix ?? 'sluice_';
    const counter = (name: string, help: string, labels: string[]) =>
      new FastCounter(this.prefix + name, help, labels, this.registry);
    this.decisions = counter(
      'decisions_total',
      'Decisions by outcome, deciding policy, scope, mode, tier and path (seed 002 rate_limit_requests_total)',
      ['outcome', 'policy', 'scope', 'mode', 'tier', 'path'],
    );
    this.duration = new FastHistogram(
      `${this.prefix}decision_duration_seconds`,
      'Time to decide, by store and deciding path (seed 002 rate_limit_decision_time_seconds)',
      ['store', 'path'],
      options.buckets ?? DEFAULT_BUCKETS,
      this.registry,
    );
    this.violations = counter(
      'violations_total',
      'Policies whose limits refused a request, enforced or in shadow (seed 000 tenant_rate_limit_violations_total)',
      ['policy', 'scope', 'mode'],
    );
    this.blocks = counter(
      'blocks_total',
      'Requests refused by an enforced limit or block (seed 000 tenant_rate_limit_blocks_total)',
      ['policy', 'scope', 'reason'],
    );
    this.storeFailures = counter(
      'store_failures_total',
      'Decisions the store could not make, by error code (seed 001 redis_connection_failures, seed 003 cache_failures_total)',
      ['code'],
    );
    // The codes a store failure can have exist at 0 from the start: increase() then counts the first ones.
    for (const code of STORE_FAILURE_CODES) this.storeFailures.inc([code], 0);
    const clock = options.clock ?? Date.now;
    if (options.tenantLabels) {
      const tenants = counter(
        'tenant_decisions_total',
        'Decisions of the busiest tenants (the rest as "other"), by outcome (seed 003 tenant_ratelimit_total)',
        ['tenant', 'outcome'],
      );
      this.tenants = new CappedCounter(tenants, 'tenant', options.tenantLabels, clock);
    }
    if (options.identityLabels) {
      const identities = counter(
        'identity_violations_total',
        'Violations of the most violating identities (user, else IP, else key; the rest as "other") (seed 002 mass violations)',
        ['identity'],
      );
      this.identities = new CappedCounter(identities, 'identity', options.identityLabels, clock);
    }
    registerScraped(this.prefix, this.registry, this.sources);
  }

  /** Counts one decision. Never throws. */
  decided({ decision, durationMs, request }: DecisionEvent): void {
    try {
      const { outcome, policy, scope, mode, tier, path } = labelsOf(decision);
      this.decisions.inc([outcome, policy, scope, mode, tier, path]);
      this.duration.observe([decision.backend, path], durationMs / 1000);
      if (outcome === 'rejected' || outcome === 'blocked' || outcome === 'shed') {
        this.blocks.inc([policy, scope, decision.reason]);
        this.countViolations(decision, request);
      } else if (outcome === 'shadow_rejected') this.countViolations(decision, request);
      const failure = decision.storeError?.code;
      if (failure !== undefined) this.storeFailures.inc([failure]);
      this.tenants?.inc(decision.tenant, outcome);
    } catch {
      // Metrics never fail a decision.
    }
  }

  private countViolations(decision: Decision, request: DecisionEvent['request']): void {
    const violations = violationsOf(decision);
    for (const v of violations) this.violations.inc([v.policy, v.scope, v.mode]);
    if (violations.length > 0 && this.identities) {
      this.identities.inc(request?.user ?? request?.ip ?? decision.key ?? decision.tenant);
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

/**
 * A counter labeled by a capped value (tenant, identity: see TopLabels) and optionally one more label:
 * a value that loses its place has its series removed.
 */
class CappedCounter {
  private readonly top: TopLabels;

  constructor(
    private readonly counter: FastCounter,
    private readonly label: string,
    options: { top?: number; intervalMs?: number },
    clock: () => number,
  ) {
    this.top = new TopLabels(options.top ?? 20, options.intervalMs ?? 60_000, clock, (dropped) => {
      const gone = new Set(dropped);
      counter.remove((labels) => gone.has(labels[label] as string));
    });
  }

  /** Counts `value` (shown as itself or `other`), with the family's further label values. */
  inc(value: string, ...more: string[]): void {
    this.counter.inc([this.top.label(value), ...more]);
  }
}
