/** The HTTP bench's figures: per variant and tenant count, summaries and the target check (tables.ts renders them). */
import {
  addCounters,
  innerCommandsPerDecision,
  NO_COUNTERS,
  type RedisCounters,
  scriptStat,
} from '../lib/redis-stats.js';
import { type Framework, INCUMBENTS, type Variant } from './config.js';
import type { LoadResult } from './load.js';

export interface RoundResult extends LoadResult {
  round: number;
  /** CPU time the server process spent during the measured run, in microseconds. */
  serverCpuUs: number;
  /** Sluice: times its circuit breaker opened during the measured run (must be 0); null otherwise. */
  circuitOpened: number | null;
  /** What Redis did during the measured run (deltas of INFO commandstats and cpu). */
  redis: RedisCounters;
}

export interface VariantRuns {
  framework: Framework;
  variant: Variant;
  /** 1: every request names the tenant `bench`; more: the tenant header rotates over this many. */
  tenants: number;
  label: string;
  what: string;
  /** Rate-limit response headers the server sent on a probe request (names). */
  limitHeaders: string[];
  rounds: RoundResult[];
  /** Non-2xx responses, errors and timeouts of the warm-up runs (the measured ones are in `rounds`). */
  warmup: { non2xx: number; errors: number; timeouts: number; non2xxStatuses: Record<string, number> };
}

export interface VariantSummary extends Omit<VariantRuns, 'rounds'> {
  /** The median round by requests/s (upper middle when the count is even): its latencies are reported. */
  median: RoundResult;
  /** Median requests/s over the same framework's `none` median requests/s (same tenant count). */
  rpsRatio: number;
  /** Median round's p99 over `none`'s median round's p99 (above 1: slower). */
  p99Ratio: number;
  /** Over all measured rounds. */
  serverCpuUsPerRequest: number;
  /** serverCpuUsPerRequest minus the same framework's `none`: what the limiter adds in the server. */
  addedServerCpuUsPerRequest: number;
  redisCpuUsPerRequest: number | null;
  scriptsPerRequest: number;
  redisCommands: string;
  /** Over every run, warm-ups included: must all be 0. */
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Sluice: circuit-breaker openings over the measured rounds (must be 0); null otherwise. */
  circuitOpened: number | null;
  /** Non-2xx responses by status code over every run (empty when all were 2xx). */
  non2xxStatuses: Record<string, number>;
  rounds: RoundResult[];
}

export interface TargetCheck {
  framework: Framework;
  tenants: number;
  target: string;
  /** null: nothing to compare with (no incumbent). Met: both `requestsMet` and `cpuMet`. */
  met: boolean | null;
  /** Sluice's req/s ratio to `none` above the incumbent's. */
  requestsMet: boolean | null;
  /** Sluice adds less server CPU per request than the incumbent. */
  cpuMet: boolean | null;
  actual: string;
}

export interface RunInfo {
  date: string;
  command: string;
  /** How this run was actually started when not through `npm run bench:http` (same script). */
  startedAs?: string;
  node: string;
  redis: string;
  redisServer: string;
  cpus: number;
  cpuModel: string;
  platform: string;
  versions: Record<string, string>;
  config: {
    seconds: number;
    warmupSeconds: number;
    primeSeconds: number;
    rounds: number;
    connections: number;
    pipelining: 1;
    /** The tenant count of the many-tenants runs (the header rotated per request). */
    tenants: number;
  };
  durationSeconds: number;
  /** os.loadavg() (1, 5, 15 min) when the run started and ended: other load on the machine skews req/s. */
  loadAverage: { start: number[]; end: number[] };
}

export interface HttpBenchResults {
  info: RunInfo;
  variants: VariantSummary[];
  targets: TargetCheck[];
  allAdmitted: boolean;
  notes: string[];
}

/** The identity of a set of runs: framework, variant, tenant count. */
const idOf = (r: { framework: Framework; variant: Variant; tenants: number }) =>
  `${r.framework}/${r.variant}/${r.tenants}`;

export function summarize(runs: VariantRuns[]): VariantSummary[] {
  const medianOf = new Map(runs.map((r) => [idOf(r), medianRound(r.rounds)]));
  const cpuOf = new Map(
    runs.map((r) => [idOf(r), sum(r.rounds, (x) => x.serverCpuUs) / sum(r.rounds, (x) => x.requests)]),
  );
  return runs.map((r) => {
    const { rounds, ...rest } = r;
    const median = medianRound(rounds);
    const noneId = idOf({ ...r, variant: 'none' });
    const none = medianOf.get(noneId) ?? median;
    const totals = rounds.reduce(
      (t, x) => ({
        requests: t.requests + x.requests,
        serverCpuUs: t.serverCpuUs + x.serverCpuUs,
        redis: addCounters(t.redis, x.redis),
        non2xx: t.non2xx + x.non2xx,
        errors: t.errors + x.errors,
        timeouts: t.timeouts + x.timeouts,
      }),
      { requests: 0, serverCpuUs: 0, redis: NO_COUNTERS, non2xx: 0, errors: 0, timeouts: 0 },
    );
    const scripts = scriptStat(totals.redis).calls;
    return {
      ...rest,
      median,
      rpsRatio: median.requestsPerSec / none.requestsPerSec,
      p99Ratio: median.p99Us / none.p99Us,
      serverCpuUsPerRequest: totals.serverCpuUs / totals.requests,
      addedServerCpuUsPerRequest: totals.serverCpuUs / totals.requests - (cpuOf.get(noneId) ?? Number.NaN),
      redisCpuUsPerRequest: r.variant === 'none' ? null : totals.redis.cpuUs / totals.requests,
      scriptsPerRequest: scripts / totals.requests,
      redisCommands: r.variant === 'none' ? '' : innerCommandsPerDecision(totals.redis, totals.requests),
      non2xx: totals.non2xx + r.warmup.non2xx,
      errors: totals.errors + r.warmup.errors,
      timeouts: totals.timeouts + r.warmup.timeouts,
      circuitOpened: rounds.some((x) => x.circuitOpened !== null)
        ? rounds.reduce((n, x) => n + (x.circuitOpened ?? 0), 0)
        : null,
      non2xxStatuses: rounds.reduce(
        (all, x) => addStatuses(all, x.non2xxStatuses),
        addStatuses({}, r.warmup.non2xxStatuses),
      ),
      rounds,
    };
  });
}

function sum<T>(items: T[], of: (item: T) => number): number {
  return items.reduce((n, item) => n + of(item), 0);
}

/** Adds `more` into `into` (counts by status code); returns `into`. */
export function addStatuses(
  into: Record<string, number>,
  more: Record<string, number> | undefined,
): Record<string, number> {
  for (const [status, count] of Object.entries(more ?? {})) into[status] = (into[status] ?? 0) + count;
  return into;
}

function medianRound(rounds: RoundResult[]): RoundResult {
  const sorted = [...rounds].sort((a, b) => a.requestsPerSec - b.requestsPerSec);
  const median = sorted[Math.floor(sorted.length / 2)];
  if (!median) throw new Error('no rounds measured');
  return median;
}

/**
 * Target, per framework and tenant count: Sluice costs the framework less than its incumbent does:
 * a higher requests/s ratio to `none` and less server CPU added per request (met when both hold).
 */
export function checkTargets(variants: VariantSummary[]): TargetCheck[] {
  const groups = [...new Set(variants.map((v) => `${v.framework}/${v.tenants}`))];
  return groups.map((group) => {
    const [framework, tenantsText] = group.split('/') as [Framework, string];
    const tenants = Number(tenantsText);
    const of = (variant: Variant) =>
      variants.find((v) => v.framework === framework && v.tenants === tenants && v.variant === variant);
    return targetOf(framework, tenants, of('sluice'), of('incumbent'), of('sluice-legacy'));
  });
}

const TARGET = 'sluice x none > incumbent x none (req/s) and sluice adds less server CPU/req';

function targetOf(
  framework: Framework,
  tenants: number,
  sluice: VariantSummary | undefined,
  incumbent: VariantSummary | undefined,
  legacy: VariantSummary | undefined,
): TargetCheck {
  const none = { framework, tenants, target: TARGET, met: null, requestsMet: null, cpuMet: null };
  if (!sluice) return { ...none, actual: 'no sluice run' };
  if (!incumbent) {
    const why = INCUMBENTS[framework] === null ? 'none installed' : 'missing';
    return { ...none, actual: `no incumbent measured (${why}); sluice ${x(sluice.rpsRatio)} none` };
  }
  const requestsMet = sluice.rpsRatio > incumbent.rpsRatio;
  const cpuMet = sluice.addedServerCpuUsPerRequest < incumbent.addedServerCpuUsPerRequest;
  const lean = legacy
    ? `; with the legacy headers only ${x(legacy.rpsRatio)} none, server CPU +${legacy.addedServerCpuUsPerRequest.toFixed(1)} µs/req`
    : '';
  return {
    ...none,
    met: requestsMet && cpuMet,
    requestsMet,
    cpuMet,
    actual:
      `req/s ${requestsMet ? 'MET' : 'MISSED'}: sluice ${x(sluice.rpsRatio)} vs ${incumbent.label} ${x(incumbent.rpsRatio)} none ` +
      `(${x(sluice.median.requestsPerSec / incumbent.median.requestsPerSec)} its req/s); ` +
      `server CPU ${cpuMet ? 'MET' : 'MISSED'}: +${sluice.addedServerCpuUsPerRequest.toFixed(1)} vs +${incumbent.addedServerCpuUsPerRequest.toFixed(1)} µs/req; ` +
      `p99 ${x(sluice.p99Ratio)} vs ${x(incumbent.p99Ratio)} none; ` +
      `Redis CPU ${(sluice.redisCpuUsPerRequest ?? 0).toFixed(1)} vs ${(incumbent.redisCpuUsPerRequest ?? 0).toFixed(1)} µs/req` +
      lean,
  };
}

function x(ratio: number): string {
  return `${ratio.toFixed(2)}x`;
}
