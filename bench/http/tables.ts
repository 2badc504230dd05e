/** The HTTP bench's tables (console and Markdown), its report bench/results/http.md, and the JSON. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { markdownTable, type Table, textTable } from '../lib/report.js';
import type { HttpBenchResults, TargetCheck, VariantSummary } from './report.js';

export function tenantsLabel(tenants: number): string {
  return tenants === 1 ? '1 tenant' : `${tenants.toLocaleString('en-US')} tenants`;
}

function tenantCounts(results: HttpBenchResults): number[] {
  return [...new Set(results.variants.map((v) => v.tenants))].sort((a, b) => a - b);
}

function verdict(met: boolean | null): string {
  return met === null ? 'N/A' : met ? 'MET' : 'MISSED';
}

/**
 * Every framework and variant with each tenant count side by side: req/s, its ratio to the same
 * framework's `none` with as many tenants, p99, and the server CPU the limiter adds per request.
 */
export function summaryTable(results: HttpBenchResults): Table {
  const counts = tenantCounts(results);
  const pairs = [...new Map(results.variants.map((v) => [`${v.framework}/${v.variant}`, v])).values()];
  const cellsOf = (v: VariantSummary | undefined) =>
    v
      ? [
          integer(v.median.requestsPerSec),
          x(v.rpsRatio),
          ms(v.median.p99Us),
          ms(v.median.p999Us),
          v.variant === 'none' ? '-' : `+${v.addedServerCpuUsPerRequest.toFixed(1)}`,
        ]
      : ['-', '-', '-', '-', '-'];
  return {
    headers: [
      'framework',
      'variant',
      ...counts.flatMap((n) => {
        const t = tenantsLabel(n);
        return [
          `${t}: req/s`,
          `${t}: x none`,
          `${t}: p99 ms`,
          `${t}: p99.9 ms`,
          `${t}: server CPU added µs/req`,
        ];
      }),
    ],
    align: ['l', 'l', ...counts.flatMap(() => ['r', 'r', 'r', 'r', 'r'] as const)],
    rows: pairs.map((p) => [
      p.framework,
      p.label,
      ...counts.flatMap((n) =>
        cellsOf(
          results.variants.find(
            (v) => v.framework === p.framework && v.variant === p.variant && v.tenants === n,
          ),
        ),
      ),
    ]),
  };
}

export function throughputTable(results: HttpBenchResults, tenants: number): Table {
  const targetOf = new Map(results.targets.filter((t) => t.tenants === tenants).map((t) => [t.framework, t]));
  return {
    headers: [
      'framework',
      'variant',
      'req/s',
      'x none',
      'p50 ms',
      'p99 ms',
      'p99.9 ms',
      'p99 x none',
      'non-2xx',
      'target',
    ],
    align: ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    rows: results.variants
      .filter((v) => v.tenants === tenants)
      .map((v) => {
        const t = v.variant === 'sluice' ? targetOf.get(v.framework) : undefined;
        return [
          v.framework,
          v.label,
          integer(v.median.requestsPerSec),
          x(v.rpsRatio),
          ms(v.median.p50Us),
          ms(v.median.p99Us),
          ms(v.median.p999Us),
          x(v.p99Ratio),
          failures(v),
          t ? targetCell(t) : '',
        ];
      }),
  };
}

function targetCell(t: TargetCheck): string {
  return `${verdict(t.met)} (req/s ${verdict(t.requestsMet)}, server CPU ${verdict(t.cpuMet)})`;
}

export function costTable(results: HttpBenchResults, tenants: number): Table {
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
    rows: results.variants
      .filter((v) => v.tenants === tenants)
      .map((v) => [
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
    headers: [
      'framework',
      'variant',
      'tenants',
      'round',
      'req/s',
      'p50 ms',
      'p99 ms',
      'p99.9 ms',
      'requests',
      'non-2xx',
    ],
    align: ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows: results.variants.flatMap((v) =>
      v.rounds.map((r) => [
        v.framework,
        v.label,
        integer(v.tenants),
        String(r.round),
        integer(r.requestsPerSec),
        ms(r.p50Us),
        ms(r.p99Us),
        ms(r.p999Us),
        integer(r.requests),
        String(r.non2xx),
      ]),
    ),
  };
}

export function printResults(results: HttpBenchResults): void {
  const c = results.info.config;
  console.log(
    `\nMedian round of ${c.rounds}; ratios to the same framework's \`none\` with as many tenants, in this run\n`,
  );
  console.log(textTable(summaryTable(results)));
  for (const n of tenantCounts(results)) {
    console.log(`\n${tenantsLabel(n)}\n`);
    console.log(textTable(throughputTable(results, n)));
    console.log('');
    console.log(textTable(costTable(results, n)));
  }
  console.log('\nTargets\n');
  for (const t of results.targets) {
    console.log(`${t.framework}, ${tenantsLabel(t.tenants)}: ${verdict(t.met)}  ${t.actual}`);
  }
  console.log(
    results.allAdmitted
      ? '\nEvery response was 2xx (no rejections, errors or timeouts).'
      : '\nCHECK FAILED: some responses were not 2xx, or requests failed (see the non-2xx column).',
  );
}

export function markdown(results: HttpBenchResults): string {
  const counts = tenantCounts(results);
  return `# Sluice: HTTP middleware overhead, one tenant and many

${runSection(results)}

## Summary: one tenant and ${tenantsLabel(results.info.config.tenants)}

Each variant's median round (its latencies are that round's); x none: its req/s over the same
framework's \`none\` with as many tenants (higher is better); server CPU added: the server's CPU per
request minus \`none\`'s, over all measured rounds (lower is better).

${markdownTable(summaryTable(results))}

## Targets

Per framework and tenant count: Sluice at its default options costs the framework less than its
incumbent does: a higher req/s ratio to \`none\` **and** less server CPU added per request (MET when
both hold; each is shown).

${results.targets.map((t) => `- ${t.framework}, ${tenantsLabel(t.tenants)}: **${verdict(t.met)}**: ${t.actual}`).join('\n')}

${counts.map((n) => tenantSection(results, n)).join('\n')}
## Variants

${results.variants
  .filter((v) => v.tenants === 1 && (v.framework === 'express' || v.variant !== 'none'))
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

function runSection(results: HttpBenchResults): string {
  const { info } = results;
  const c = info.config;
  return `- Date: ${info.date}
- Command: \`${info.command}\`${info.startedAs ? ` (this run: \`${info.startedAs}\`, the same script)` : ''}
- Node ${info.node}, Redis ${info.redis} (${info.redisServer}), ${info.cpus} CPUs (${info.cpuModel}), ${info.platform}
- Versions: ${Object.entries(info.versions)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ')}
- Load: autocannon in the bench process, ${c.connections} connections, pipelining ${c.pipelining}, GET / of a
  hello-world route; each server in its own child process. Two tenant counts: one tenant (header
  \`X-Tenant-ID: bench\` on every request) and ${tenantsLabel(c.tenants)} (\`X-Tenant-ID\` rotated per request
  over \`t0\` ... \`t${c.tenants - 1}\`, one counter for all connections). Every limiter keys by that header.
  Per framework, every server is first loaded for ${c.primeSeconds} s (JIT, pools, scripts; half with each
  tenant count), then ${c.rounds} rounds; each round runs, for each tenant count, every variant once
  (${c.warmupSeconds} s warm-up, then ${c.seconds} s measured), the starting variant and tenant count rotating each
  round. Figures are each variant's median round by requests/s (the upper middle one: with 2 rounds, the
  faster); ratios are to the same framework's \`none\` median with as many tenants in this run (req/s:
  higher is better; p99: lower is better). Latency is measured per response in µs.
- Every limit is 1e9 per window, so no request may be rejected: non-2xx responses, errors and timeouts
  over every run (warm-ups included) are counted in the non-2xx column and must be 0.
  ${results.allAdmitted ? 'They were.' : '**They were not: the run is invalid.**'}
- Whole run: ${info.durationSeconds.toFixed(0)} s; load average (1/5/15 min) ${info.loadAverage.start.map((n) => n.toFixed(2)).join(' / ')} at the start, ${info.loadAverage.end.map((n) => n.toFixed(2)).join(' / ')} at the end (${info.cpus} CPUs)`;
}

function tenantSection(results: HttpBenchResults, tenants: number): string {
  return `## ${tenantsLabel(tenants)}

### Throughput and latency

${markdownTable(throughputTable(results, tenants))}

### Where the time goes

Server CPU: the server process's user + system CPU time per request during the measured runs
(framework, limiter, Redis client); added by limiter: the same minus the framework's \`none\` (same
tenant count). CPU time per request is far less sensitive than req/s to other load on the machine.
Redis CPU: the Redis server's \`used_cpu_user + used_cpu_sys\` per request. Scripts/req and Redis
commands/req: INFO commandstats (EVALSHA/EVAL calls, then the commands run inside them). Rate-limit
headers: how many rate-limit response headers the variant sends (a probe request). Circuit opened: how
often Sluice's circuit breaker opened during the measured runs (it must not). On a machine with few
cores, autocannon, the server and Redis share them: every CPU µs a limiter spends is taken from the
load generator and the server alike.

${markdownTable(costTable(results, tenants))}
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
