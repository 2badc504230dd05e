/** Turns the rounds into per-contender figures: the median round, ratios to the baseline, targets. */
import type { LoadResult } from './driver.js';
import {
  addCounters,
  innerCommandsPerDecision,
  NO_COUNTERS,
  type RedisCounters,
  scriptStat,
} from './redis-stats.js';

export const BASELINE = 'raw-evalsha';

export interface RoundResult extends LoadResult {
  round: number;
  /** What the Redis server did during this run (deltas). */
  redis: RedisCounters;
}

export interface ContenderSummary {
  name: string;
  what: string;
  /** The median round by decisions/s: its p50/p99 are the ones reported. */
  median: RoundResult;
  /** Median decisions/s over the baseline's median decisions/s. */
  ratioToRaw: number;
  /** Over all measured rounds; null when the contender made no script calls (memory store). */
  scriptUsecPerCall: number | null;
  redisCpuUsPerDecision: number | null;
  /** Redis commands the script ran per decision, from INFO commandstats, e.g. "hmget 2, time 1". */
  innerCommands: string;
  nodeCpuUsPerDecision: number;
  admittedShare: number;
  rounds: RoundResult[];
}

export interface TargetCheck {
  contender: string;
  target: string;
  met: boolean;
  actual: string;
}

export function summarize(
  contenders: Array<{ name: string; what: string }>,
  rounds: Map<string, RoundResult[]>,
): ContenderSummary[] {
  // Absent when a run leaves the baseline out (BENCH_SPREAD_CONTENDERS): its ratios are then NaN.
  const measuredBaseline = rounds.get(BASELINE) ?? [];
  const baseline = measuredBaseline.length > 0 ? medianRound(measuredBaseline) : undefined;
  return contenders.map(({ name, what }) => {
    const runs = rounds.get(name) ?? [];
    const median = medianRound(runs);
    const totals = runs.reduce(
      (t, r) => ({
        decisions: t.decisions + r.decisions,
        admitted: t.admitted + r.admitted,
        nodeCpuUs: t.nodeCpuUs + r.nodeCpuUs,
        redis: addCounters(t.redis, r.redis),
      }),
      { decisions: 0, admitted: 0, nodeCpuUs: 0, redis: NO_COUNTERS },
    );
    const script = scriptStat(totals.redis);
    const usesScripts = script.calls > 0;
    return {
      name,
      what,
      median,
      ratioToRaw: median.decisionsPerSec / (baseline?.decisionsPerSec ?? Number.NaN),
      scriptUsecPerCall: usesScripts ? script.usec / script.calls : null,
      redisCpuUsPerDecision: usesScripts ? totals.redis.cpuUs / totals.decisions : null,
      innerCommands: usesScripts ? innerCommandsPerDecision(totals.redis, totals.decisions) : '',
      nodeCpuUsPerDecision: totals.nodeCpuUs / totals.decisions,
      admittedShare: totals.admitted / totals.decisions,
      rounds: runs,
    };
  });
}

/** The round in the middle when sorted by decisions/s (the upper one of the two middles if even). */
function medianRound(runs: RoundResult[]): RoundResult {
  const sorted = [...runs].sort((a, b) => a.decisionsPerSec - b.decisionsPerSec);
  const median = sorted[Math.floor(sorted.length / 2)];
  if (!median) throw new Error('no rounds measured');
  return median;
}

/**
 * The targets the project set: sluice-redis-1 >= 0.9x raw and > rlf-redis; sluice-redis-4 >= 0.8x raw;
 * sluice-policy (policies resolved per request) >= 0.8x sluice-redis-1.
 */
export function checkTargets(summaries: ContenderSummary[]): TargetCheck[] {
  const byName = new Map(summaries.map((s) => [s.name, s]));
  const get = (name: string) => {
    const s = byName.get(name);
    if (!s) throw new Error(`no contender ${name}`);
    return s;
  };
  const one = get('sluice-redis-1');
  const four = get('sluice-redis-4');
  const rlf = get('rlf-redis');
  const policy = get('sluice-policy');
  const unguarded = get('sluice-redis-1-no-guard');
  const open = get('sluice-circuit-open');
  const memory = get('sluice-memory');
  const guardCost = 1 - one.median.decisionsPerSec / unguarded.median.decisionsPerSec;
  const openVsMemory = open.median.decisionsPerSec / memory.median.decisionsPerSec;
  const vsRlf = one.median.decisionsPerSec / rlf.median.decisionsPerSec;
  const policyVsOne = policy.median.decisionsPerSec / one.median.decisionsPerSec;
  const five = get('sluice-redis-5');
  const observed = get('sluice-policy-metrics');
  const metricsCost = 1 - observed.median.decisionsPerSec / policy.median.decisionsPerSec;
  const metricsCpu = observed.nodeCpuUsPerDecision / policy.nodeCpuUsPerDecision - 1;
  const policyVsFive = policy.median.decisionsPerSec / five.median.decisionsPerSec;
  return [
    {
      contender: one.name,
      target: '>= 0.90x raw and > rlf-redis',
      met: one.ratioToRaw >= 0.9 && vsRlf > 1,
      actual: `${one.ratioToRaw.toFixed(2)}x raw, ${vsRlf.toFixed(2)}x rlf-redis`,
    },
    {
      contender: four.name,
      target: '>= 0.80x raw',
      met: four.ratioToRaw >= 0.8,
      actual: `${four.ratioToRaw.toFixed(2)}x raw`,
    },
    {
      contender: unguarded.name,
      target: 'guard (budget + breaker) costs <= 3 % of sluice-redis-1',
      met: guardCost <= 0.03,
      actual: `guard costs ${(guardCost * 100).toFixed(1)} %`,
    },
    {
      contender: open.name,
      target: 'near memory speed',
      met: openVsMemory >= 0.7,
      actual: `${openVsMemory.toFixed(2)}x sluice-memory`,
    },
    {
      contender: policy.name,
      target: '>= 0.80x sluice-redis-1',
      met: policyVsOne >= 0.8,
      actual: `${policyVsOne.toFixed(2)}x sluice-redis-1; ${policyVsFive.toFixed(2)}x the same 5 windows without resolution (sluice-redis-5)`,
    },
    {
      contender: observed.name,
      target: 'metrics and decision logs cost a policy decision <= 3 % (issue 14)',
      met: metricsCost <= 0.03,
      actual: `${(metricsCost * 100).toFixed(1)} % fewer decisions/s, ${(metricsCpu * 100).toFixed(1)} % more client CPU per decision than sluice-policy`,
    },
  ];
}
