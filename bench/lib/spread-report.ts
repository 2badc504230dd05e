/** The spread bench's tables (console and Markdown) and its report, bench/results/spread.md. */
import { PIPELINE, RANDOM_KEYS } from './redis-benchmark.js';
import { markdownTable, type Table } from './report.js';
import type { ScenarioResult, SpreadResults, SpreadRow } from './spread-results.js';

const RAW = 'raw-evalsha';

/**
 * Per scenario, one store's contenders side by side: the reference contender's decisions/s, then each
 * other's as a ratio to it (the header names the reference) with its decisions/s.
 */
export function summaryTable(results: SpreadResults, store: 'redis' | 'memory'): Table {
  const reference = store === 'redis' ? RAW : 'rlf-memory';
  const names = contenderNames(results, store).filter((n) => n !== reference);
  const rb = results.redisBenchmark.median;
  const extra = store === 'redis' && rb ? ['sluice-redis-1 x redis-benchmark'] : [];
  return {
    headers: ['scenario', `${reference} decisions/s`, ...names.map((n) => `${n} x ${reference}`), ...extra],
    align: ['l', 'r', ...names.map(() => 'r' as const), ...extra.map(() => 'r' as const)],
    rows: results.scenarios.map((s) => {
      const ref = row(s, reference);
      const cells = names.map((n) => {
        const c = row(s, n);
        if (!c || !ref) return '-';
        return `${ratio(c.median.decisionsPerSec / ref.median.decisionsPerSec)} (${integer(c.median.decisionsPerSec)}/s)`;
      });
      const one = row(s, 'sluice-redis-1')?.ratioToRedisBenchmark;
      const rbCell = extra.length ? [typeof one === 'number' ? ratio(one) : '-'] : [];
      return [s.name, ref ? integer(ref.median.decisionsPerSec) : '-', ...cells, ...rbCell];
    }),
  };
}

/** One scenario, every contender: throughput, latency, CPU per decision, admitted share and ratios. */
export function scenarioTable(s: ScenarioResult): Table {
  return {
    headers: [
      'contender',
      'decisions/s',
      'p50 µs',
      'p99 µs',
      'p99.9 µs',
      'client CPU µs/dec',
      'Redis CPU µs/dec',
      'admitted',
      'x raw-evalsha',
      'x rlf',
      'x redis-benchmark',
    ],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'r'],
    rows: s.contenders.map((c) => [
      c.name,
      integer(c.median.decisionsPerSec),
      integer(c.median.p50Us),
      integer(c.median.p99Us),
      integer(c.median.p999Us),
      c.nodeCpuUsPerDecision.toFixed(2),
      c.redisCpuUsPerDecision === null ? '-' : c.redisCpuUsPerDecision.toFixed(2),
      percent(c.admittedShare),
      ratio(c.ratioToRaw),
      c.name === c.rlf ? '1.00x' : `${ratio(c.ratioToRlf)} ${c.rlf}`,
      c.ratioToRedisBenchmark === null ? '-' : ratio(c.ratioToRedisBenchmark),
    ]),
  };
}

/** The hot-key scenario's over-admission check, per contender. */
export function admissionTable(s: ScenarioResult): Table {
  const checked = s.contenders.filter((c) => c.admission !== null);
  return {
    headers: [
      'contender',
      'keys',
      'admitted',
      'most admitted on a key',
      'keys over one window limit',
      'keys over the bound',
      'over-admitted',
    ],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows: checked.map((c) => {
      const a = c.admission as NonNullable<SpreadRow['admission']>;
      return [
        c.name,
        integer(a.keys),
        percent(a.admitted / a.decisions),
        `${integer(a.maxAdmittedPerKey)} (limit ${a.limitPerWindow})`,
        integer(a.keysOverLimit),
        integer(a.keysOverBound),
        a.overAdmitted === 0 ? '0' : `**${integer(a.overAdmitted)}**`,
      ];
    }),
  };
}

/** peerRatios as a matrix: row contender's decisions/s over the column contender's. */
export function peerTable(s: ScenarioResult): Table {
  const names = s.contenders.map((c) => c.name);
  return {
    headers: ['row / column', ...names],
    align: ['l', ...names.map(() => 'r' as const)],
    rows: names.map((a) => [a, ...names.map((b) => ratio(s.peerRatios[a]?.[b] ?? Number.NaN))]),
  };
}

export function targetsTable(results: SpreadResults): Table {
  return {
    headers: ['target (issue 13)', 'contender', 'scenario', 'measured', 'status', 'by how much'],
    align: ['l', 'l', 'l', 'l', 'l', 'l'],
    rows: results.targets.map((t) => [t.target, t.contender, t.scenario, t.measured, t.status, t.margin]),
  };
}

export function redisBenchmarkTable(results: SpreadResults): Table {
  return {
    headers: ['round', 'requests/s', 'p50 ms (per batch)', 'p99 ms (per batch)', 'Redis CPU µs/request'],
    align: ['r', 'r', 'r', 'r', 'r'],
    rows: results.redisBenchmark.rounds.map((r, i) => [
      String(i + 1),
      integer(r.requestsPerSec),
      r.p50Ms === null ? '-' : r.p50Ms.toFixed(3),
      r.p99Ms === null ? '-' : r.p99Ms.toFixed(3),
      r.redisCpuUsPerRequest.toFixed(2),
    ]),
  };
}

export function processMemoryTable(results: SpreadResults): Table {
  return {
    headers: ['contender', 'keys', 'bytes per key', 'what'],
    align: ['l', 'r', 'r', 'l'],
    rows: results.processMemory.map((m) => [m.contender, integer(m.keys), integer(m.bytesPerKey), m.what]),
  };
}

function contenderNames(results: SpreadResults, store: 'redis' | 'memory'): string[] {
  return (results.scenarios[0]?.contenders ?? []).filter((c) => c.store === store).map((c) => c.name);
}

function row(s: ScenarioResult, name: string): SpreadRow | undefined {
  return s.contenders.find((c) => c.name === name);
}

export function markdown(results: SpreadResults): string {
  const md = markdownTable;
  return `# Sluice: decisions per second over spread keys and tenants

${runSection(results)}

## Summary

Median decisions/s per scenario. Redis contenders: each as a ratio to **raw-evalsha** of the same
scenario (its decisions/s in brackets); the last column is sluice-redis-1 as a ratio to
**redis-benchmark** (the physical limit below).

${md(summaryTable(results, 'redis'))}

In-process contenders: each as a ratio to **rlf-memory** (rate-limiter-flexible's memory limiter) of
the same scenario.

${md(summaryTable(results, 'memory'))}

## Targets

The targets of issue 13 against this run. By how much: for a throughput target, the measured ratio
over the target ratio, minus one (+8 %: 8 % past it; -41 %: 41 % short); for a p99 bound, how much
the p99 may still grow (+) or must shrink (-) to meet it.${singleKeyNote(results)}

${md(targetsTable(results))}

## The physical limit: redis-benchmark

${redisBenchmarkSection(results)}

${results.scenarios.map(scenarioSection).join('\n')}
## Memory per key, in-process limiters

V8 heap plus array buffers after a full GC, before and after ${integer(results.info.config.memoryKeys)}
keys each got one decision (windows of an hour: nothing expires meanwhile), divided by the keys. It
includes the key strings the limiter keeps. Redis memory per key is in bench/results/decisions.md.

${md(processMemoryTable(results))}

## Ratios to each peer

Row contender's median decisions/s over the column contender's, same scenario.

${results.scenarios.map((s) => `### ${s.name}\n\n${md(peerTable(s))}\n`).join('\n')}
## Contenders

${results.scenarios[0]?.contenders.map((c) => `- \`${c.name}\`: ${c.what}`).join('\n') ?? ''}
${results.skipped.map((s) => `- \`${s.contender}\`: **not run**: ${s.reason}`).join('\n')}

## Warnings

${results.warnings.length === 0 ? 'None.' : results.warnings.map((w) => `- **${w}**`).join('\n')}
`;
}

function singleKeyNote(results: SpreadResults): string {
  const k = results.singleKey;
  return k
    ? ` Single-key figures: the decisions bench of this run (${k.source}, ${k.date}).`
    : ' Single-key targets need the decisions bench of the same run: `npm run bench` runs both.';
}

function runSection(results: SpreadResults): string {
  const info = results.info;
  const c = info.config;
  return `- Date: ${info.date}
- Command: \`${info.command}\`
- Node ${info.node}, Redis ${info.redis} (${info.redisServer}), ${info.cpus} CPUs (${info.cpuModel}), ${info.platform}
- Versions: ${Object.entries(info.versions)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ')}
- Load: ${c.inFlight} decisions in flight from one Node process; ${c.rounds} round(s); each round runs
  every scenario, and in each every contender (the starting one rotating each round) for ${c.seconds} s
  after ${c.warmupSeconds} s of warm-up, on a fresh contender and an empty Redis (FLUSHALL of the
  bench's own server; on a BENCH_REDIS_URL server only the bench's keys are deleted), the same
  deterministic key sequence for every contender. Figures are each contender's median round by
  decisions/s (its p50/p99/p99.9 are that round's).
- Limits: 1e9 per window (all admitted) except in hot-key-90-rejected (100 per window, the key changing
  every 1,000 decisions). Windows are 1-3 s so the up to a million keys a scenario writes expire.
- Client CPU: this Node process's CPU time per decision (key generation included, alike for all).
  Redis CPU: \`used_cpu_user + used_cpu_sys\` of the server per decision during the measured run (scripts,
  network I/O, expiry); '-' for memory contenders. Both averaged over all rounds.
- Ratios: median decisions/s over raw-evalsha's (same scenario); over rate-limiter-flexible's (rlf-redis
  for Redis contenders, rlf-memory for in-process ones); over redis-benchmark's requests/s.
- Whole run: ${info.durationSeconds.toFixed(0)} s`;
}

function redisBenchmarkSection(results: SpreadResults): string {
  const rb = results.redisBenchmark;
  if (!rb.median) return `Not measured: ${rb.error ?? 'unknown'}.`;
  return `\`${rb.command}\`: Redis' own C load generator, EVALSHA of raw-evalsha's 4-line fixed-window
script pipelined ${PIPELINE} deep on random keys over ${integer(RANDOM_KEYS)}, on the same redis-server,
once per round (at its start). Median: **${integer(rb.median.requestsPerSec)} requests/s**. Latencies are
redis-benchmark's own, per pipelined batch of ${PIPELINE}.

${markdownTable(redisBenchmarkTable(results))}`;
}

function scenarioSection(s: ScenarioResult): string {
  const admission = s.contenders.some((c) => c.admission !== null)
    ? `\nOver-admission check (every decision of every round, warm-ups included): per key, admitted
decisions against the most its limits allow over the span of its decisions (limit x (floor(span /
longest window) + 2), whatever the windows' alignment); "keys over one window limit" is informative
(a window boundary inside a key's burst legitimately admits up to twice the limit).

${markdownTable(admissionTable(s))}\n`
    : '';
  return `## ${s.name}\n\n${s.what}.\n\n${markdownTable(scenarioTable(s))}\n${admission}`;
}

function ratio(r: number): string {
  return `${r.toFixed(2)}x`;
}

function percent(share: number): string {
  return `${(share * 100).toFixed(1)} %`;
}

function integer(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
