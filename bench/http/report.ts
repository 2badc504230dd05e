/** The HTTP bench's figures: per variant summaries, the target check, console tables, Markdown and JSON. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  addCounters,
  innerCommandsPerDecision,
  NO_COUNTERS,
  type RedisCounters,
  scriptStat,
} from '../lib/redis-stats.js';
import { markdownTable, textTable } from '../lib/report.js';
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
  /** Median requests/s over the same framework's `none` median requests/s. */
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
  target: string;
  /** null: nothing to compare with (no incumbent). */
  met: boolean | null;
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

export function summarize(runs: VariantRuns[]): VariantSummary[] {
  const medianOf = new Map(runs.map((r) => [`${r.framework}/${r.variant}`, medianRound(r.rounds)]));
  const cpuOf = new Map(
    runs.map((r) => [
      `${r.framework}/${r.variant}`,
      sum(r.rounds, (x) => x.serverCpuUs) / sum(r.rounds, (x) => x.requests),
    ]),
  );
  return runs.map((r) => {
    const { rounds, ...rest } = r;
    const median = medianRound(rounds);
    const none = medianOf.get(`${r.framework}/none`) ?? median;
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
      addedServerCpuUsPerRequest:
        totals.serverCpuUs / totals.requests - (cpuOf.get(`${r.framework}/none`) ?? Number.NaN),
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

/** Target: per framework, Sluice costs less than the incumbent limiter (a higher requests/s ratio to none). */
export function checkTargets(variants: VariantSummary[]): TargetCheck[] {
  const frameworks = [...new Set(variants.map((v) => v.framework))];
  return frameworks.map((framework) => {
    const of = (variant: Variant) => variants.find((v) => v.framework === framework && v.variant === variant);
    const sluice = of('sluice');
    const legacy = of('sluice-legacy');
    const incumbent = of('incumbent');
    const lean = legacy
      ? `; with the legacy headers only ${x(legacy.rpsRatio)} none, server CPU +${legacy.addedServerCpuUsPerRequest.toFixed(1)} µs/req`
      : '';
    const target = 'sluice x none > incumbent x none (req/s)';
    if (!sluice) return { framework, target, met: null, actual: 'no sluice run' };
    if (!incumbent) {
      return {
        framework,
        target,
        met: null,
        actual: `no incumbent measured (${INCUMBENTS[framework] === null ? 'none installed' : 'missing'}); sluice ${x(sluice.rpsRatio)} none`,
      };
    }
    return {
      framework,
      target,
      met: sluice.rpsRatio > incumbent.rpsRatio,
      actual:
        `sluice ${x(sluice.rpsRatio)} vs ${incumbent.label} ${x(incumbent.rpsRatio)} none ` +
        `(${x(sluice.median.requestsPerSec / incumbent.median.requestsPerSec)} its req/s); ` +
        `p99 ${x(sluice.p99Ratio)} vs ${x(incumbent.p99Ratio)} none; ` +
        `server CPU +${sluice.addedServerCpuUsPerRequest.toFixed(1)} vs +${incumbent.addedServerCpuUsPerRequest.toFixed(1)} µs/req, ` +
        `Redis CPU ${(sluice.redisCpuUsPerRequest ?? 0).toFixed(1)} vs ${(incumbent.redisCpuUsPerRequest ?? 0).toFixed(1)} µs/req` +
        lean,
    };
  });
}

interface Table {
  headers: string[];
  align: Array<'l' | 'r'>;
  rows: string[][];
}

export function throughputTable(results: HttpBenchResults): Table {
  const targetOf = new Map(results.targets.map((t) => [t.framework, t]));
  return {
    headers: [
      'framework',
      'variant',
      'req/s',
      'x none',
      'p50 ms',
      'p99 ms',
      'p99 x none',
      'non-2xx',
      'target',
    ],
    align: ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    rows: results.variants.map((v) => {
      const t = v.variant === 'sluice' ? targetOf.get(v.framework) : undefined;
      return [
        v.framework,
        v.label,
        integer(v.median.requestsPerSec),
        x(v.rpsRatio),
        ms(v.median.p50Us),
        ms(v.median.p99Us),
        x(v.p99Ratio),
        failures(v),
        t ? `${t.target}: ${t.met === null ? 'N/A' : t.met ? 'MET' : 'MISSED'}` : '',
      ];
    }),
  };
}

export function costTable(results: HttpBenchResults): Table {
  return {
    headers: [
      'framework',
      'variant',
      'server CPU µs/req',
      'added by limiter',
      'Redis CPU µs/req',
      'scripts/req',
      'Redis commands/req (inside scripts)',
      'rate-limit headers',
      'circuit opened',
    ],
    align: ['l', 'l', 'r', 'r', 'r', 'r', 'l', 'r', 'r'],
    rows: results.variants.map((v) => [
      v.framework,
      v.label,
      v.serverCpuUsPerRequest.toFixed(1),
      v.variant === 'none' ? '-' : `+${v.addedServerCpuUsPerRequest.toFixed(1)}`,
      v.redisCpuUsPerRequest === null ? '-' : v.redisCpuUsPerRequest.toFixed(1),
      v.variant === 'none' ? '-' : v.scriptsPerRequest.toFixed(2),
      v.redisCommands || '-',
      v.limitHeaders.length === 0 ? '-' : String(v.limitHeaders.length),
      v.circuitOpened === null ? '-' : String(v.circuitOpened),
    ]),
  };
}

export function roundsTable(results: HttpBenchResults): Table {
  return {
    headers: ['framework', 'variant', 'round', 'req/s', 'p99 ms', 'requests', 'non-2xx'],
    align: ['l', 'l', 'r', 'r', 'r', 'r', 'r'],
    rows: results.variants.flatMap((v) =>
      v.rounds.map((r) => [
        v.framework,
        v.label,
        String(r.round),
        integer(r.requestsPerSec),
        ms(r.p99Us),
        integer(r.requests),
        String(r.non2xx),
      ]),
    ),
  };
}

export function printResults(results: HttpBenchResults): void {
  const c = results.info.config;
  console.log(`\nMedian round of ${c.rounds}; ratios to the same framework's \`none\` in this run\n`);
  console.log(textTable(throughputTable(results)));
  console.log('');
  for (const t of results.targets) {
    console.log(`${t.framework}: ${t.met === null ? 'N/A' : t.met ? 'MET' : 'MISSED'}  ${t.actual}`);
  }
  console.log('\nWhere the time goes (over all measured rounds)\n');
  console.log(textTable(costTable(results)));
  console.log(
    results.allAdmitted
      ? '\nEvery response was 2xx (no rejections, errors or timeouts).'
      : '\nCHECK FAILED: some responses were not 2xx, or requests failed (see the non-2xx column).',
  );
}

export function markdown(results: HttpBenchResults): string {
  const { info } = results;
  const c = info.config;
  return `# Sluice: HTTP middleware overhead

- Date: ${info.date}
- Command: \`${info.command}\`${info.startedAs ? ` (this run: \`${info.startedAs}\`, the same script)` : ''}
- Node ${info.node}, Redis ${info.redis} (${info.redisServer}), ${info.cpus} CPUs (${info.cpuModel}), ${info.platform}
- Versions: ${Object.entries(info.versions)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ')}
- Load: autocannon in the bench process, ${c.connections} connections, pipelining ${c.pipelining}, header
  \`X-Tenant-ID: bench\`, GET / of a hello-world route; each server in its own child process. Per
  framework, every server is first loaded for ${c.primeSeconds} s (JIT, pools, scripts), then ${c.rounds} rounds;
  each round runs every variant once (${c.warmupSeconds} s warm-up, then ${c.seconds} s measured), the
  starting variant rotating each round. Figures are each variant's median
  round by requests/s (the upper middle one: with 2 rounds, the faster); ratios are to the same framework's \`none\` median in this run (req/s: higher is
  better; p99: lower is better). Latency is measured per response in µs.
- Every limit is 1e9 per window, so no request may be rejected: non-2xx responses, errors and timeouts
  over every run (warm-ups included) are counted in the non-2xx column and must be 0.
  ${results.allAdmitted ? 'They were.' : '**They were not: the run is invalid.**'}
- Whole run: ${info.durationSeconds.toFixed(0)} s; load average (1/5/15 min) ${info.loadAverage.start.map((n) => n.toFixed(2)).join(' / ')} at the start, ${info.loadAverage.end.map((n) => n.toFixed(2)).join(' / ')} at the end (${info.cpus} CPUs)

## Throughput and latency

${markdownTable(throughputTable(results))}

Target (per framework): Sluice costs less than the framework's incumbent limiter, i.e. a higher req/s
ratio to \`none\`.

${results.targets.map((t) => `- ${t.framework}: ${t.met === null ? 'N/A' : t.met ? '**MET**' : '**MISSED**'}: ${t.actual}`).join('\n')}

## Where the time goes

Server CPU: the server process's user + system CPU time per request during the measured runs
(framework, limiter, Redis client); added by limiter: the same minus the framework's \`none\`. CPU time
per request is far less sensitive than req/s to other load on the machine. Redis CPU: the Redis
server's \`used_cpu_user + used_cpu_sys\` per request. Scripts/req and Redis commands/req: INFO
commandstats (EVALSHA/EVAL calls, then the commands run inside them). Rate-limit headers: how many
rate-limit response headers the variant sends (a probe request). Circuit opened: how often Sluice's
circuit breaker opened during the measured runs (it must not: an open circuit means requests were
decided by the failure mode, not by Redis). On a machine with few cores, autocannon, the server and
Redis share them: every CPU µs a limiter spends is taken from the load generator and the server alike.

${markdownTable(costTable(results))}

## Variants

${results.variants
  .filter((v) => v.framework === 'express' || v.variant !== 'none')
  .map(
    (v) =>
      `- ${v.variant === 'none' ? 'none' : `${v.framework} ${v.label}`}: ${v.what}${v.limitHeaders.length ? ` (headers: ${v.limitHeaders.join(', ')})` : ''}`,
  )
  .join('\n')}

## Notes

${results.notes.map((n) => `- ${n}`).join('\n')}

## Every round

${markdownTable(roundsTable(results))}
`;
}

export async function writeResults(
  results: HttpBenchResults,
  jsonPath: string,
  mdPath: string,
): Promise<void> {
  await mkdir(dirname(jsonPath), { recursive: true });
  await writeFile(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(mdPath, markdown(results));
}

/** "0", or the count with what it was: "63 (503: 63)", "2 (errors: 2)". */
function failures(v: VariantSummary): string {
  const total = v.non2xx + v.errors + v.timeouts;
  if (total === 0) return '0';
  const parts = Object.entries(v.non2xxStatuses).map(([status, count]) => `${status}: ${count}`);
  if (v.errors > 0) parts.push(`errors: ${v.errors}`);
  if (v.timeouts > 0) parts.push(`timeouts: ${v.timeouts}`);
  return `${total} (${parts.join(', ')})`;
}

function x(ratio: number): string {
  return `${ratio.toFixed(2)}x`;
}

function ms(us: number): string {
  return (us / 1000).toFixed(2);
}

function integer(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
