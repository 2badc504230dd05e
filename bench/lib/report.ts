/** Renders the results: plain-text tables for the console, Markdown and JSON for bench/results/. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { MemoryRow } from './memory-per-key.js';
import type { MachineInfo } from './run-info.js';
import type { AnatomyRow } from './script-anatomy.js';
import type { ContenderSummary, TargetCheck } from './summary.js';

export interface RunInfo extends MachineInfo {
  config: {
    seconds: number;
    warmupSeconds: number;
    rounds: number;
    inFlight: number;
    memoryKeys: number;
  };
  counting: string;
  durationSeconds: number;
}

export interface BenchResults {
  info: RunInfo;
  contenders: ContenderSummary[];
  targets: TargetCheck[];
  anatomy: AnatomyRow[];
  memory: MemoryRow[];
}

type Align = 'l' | 'r';
export interface Table {
  headers: string[];
  align: Align[];
  rows: string[][];
}

export function throughputTable(results: BenchResults): Table {
  const targetOf = new Map(results.targets.map((t) => [t.contender, t]));
  return {
    headers: ['contender', 'decisions/s', 'p50 µs', 'p99 µs', 'p99.9 µs', 'x raw-evalsha', 'target'],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'l'],
    rows: results.contenders.map((c) => {
      const target = targetOf.get(c.name);
      return [
        c.name,
        integer(c.median.decisionsPerSec),
        integer(c.median.p50Us),
        integer(c.median.p99Us),
        integer(c.median.p999Us),
        `${c.ratioToRaw.toFixed(2)}x`,
        target ? `${target.target}: ${target.met ? 'MET' : 'MISSED'} (${target.actual})` : '',
      ];
    }),
  };
}

export function costTable(results: BenchResults): Table {
  return {
    headers: [
      'contender',
      'script µs/call (Redis EVALSHA)',
      'Redis CPU µs/decision',
      'Node CPU µs/decision',
      'Node + Redis CPU µs/decision',
      'admitted',
    ],
    align: ['l', 'r', 'r', 'r', 'r', 'r'],
    rows: results.contenders.map((c) => [
      c.name,
      c.scriptUsecPerCall === null ? '-' : c.scriptUsecPerCall.toFixed(2),
      c.redisCpuUsPerDecision === null ? '-' : c.redisCpuUsPerDecision.toFixed(2),
      c.nodeCpuUsPerDecision.toFixed(2),
      (c.nodeCpuUsPerDecision + (c.redisCpuUsPerDecision ?? 0)).toFixed(2),
      `${(c.admittedShare * 100).toFixed(1)} %`,
    ]),
  };
}

/** The synthetic scripts, then every contender's real script with the commands it ran per decision. */
export function anatomyTable(results: BenchResults): Table {
  const synthetic = results.anatomy.map((a) => [
    a.script,
    a.usecPerCall === null ? '-' : a.usecPerCall.toFixed(2),
    a.note,
  ]);
  const real = results.contenders
    .filter((c) => c.scriptUsecPerCall !== null)
    .map((c) => [c.name, (c.scriptUsecPerCall as number).toFixed(2), c.innerCommands]);
  return {
    headers: ['script', 'µs/call in Redis', 'what it runs (Redis commands per decision)'],
    align: ['l', 'r', 'l'],
    rows: [...synthetic, ...real],
  };
}

export function memoryTable(results: BenchResults): Table {
  return {
    headers: [
      'algorithm',
      'keys',
      'fill per key',
      'avg bytes/key',
      'min-max',
      'key name bytes',
      'encoding',
      'seed 002',
    ],
    align: ['l', 'r', 'l', 'r', 'r', 'r', 'l', 'l'],
    rows: results.memory.map((m) => [
      m.algorithm,
      String(m.keysFound),
      fillText(m),
      integer(m.avgBytes),
      `${m.minBytes}-${m.maxBytes}`,
      integer(m.avgKeyNameBytes),
      m.encoding,
      m.seed002,
    ]),
  };
}

function fillText(m: MemoryRow): string {
  const cost = m.cost === 1 ? '' : ` of cost ${m.cost.toLocaleString('en-US')}`;
  const n = m.decisionsPerKey;
  if (m.cost === 1 && m.algorithm === 'sliding-log') return `${n} ${n === 1 ? 'entry' : 'entries'}`;
  if (m.cost === 1 && m.algorithm === 'concurrency') return `${n} ${n === 1 ? 'lease' : 'leases'}`;
  return `${n} decision${n === 1 ? '' : 's'}${cost}`;
}

export function textTable(table: Table): string {
  const widths = table.headers.map((h, i) =>
    Math.max(h.length, ...table.rows.map((r) => (r[i] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) =>
        table.align[i] === 'r' ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return [line(table.headers), widths.map((w) => '-'.repeat(w)).join('  '), ...table.rows.map(line)].join(
    '\n',
  );
}

export function markdownTable(table: Table): string {
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const rule = table.align.map((a) => (a === 'r' ? '---:' : '---'));
  return [row(table.headers), row(rule), ...table.rows.map(row)].join('\n');
}

export function markdown(results: BenchResults): string {
  const { info } = results;
  const c = info.config;
  return `# Sluice: decisions per second

- Date: ${info.date}
- Command: \`${info.command}\`
- Node ${info.node}, Redis ${info.redis} (${info.redisServer}), ${info.cpus} CPUs (${info.cpuModel}), ${info.platform}
- Versions: ${Object.entries(info.versions)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ')}
- Load: ${c.inFlight} decisions in flight from one Node process, **single key** (the best case: every
  decision coalesces with the last; spread keys and tenants are in spread.md); ${c.rounds} rounds of ${c.seconds} s
  each after ${c.warmupSeconds} s of warm-up, contenders interleaved round-robin (the starting contender
  rotates each round). Figures are each contender's median round by decisions/s; ratios are to
  raw-evalsha's median in the same run.
- Counting: ${info.counting}
- Whole run: ${info.durationSeconds.toFixed(0)} s

## Throughput and latency

${markdownTable(throughputTable(results))}

## Where the time goes

Script µs/call: INFO commandstats \`usec\` / \`calls\` of EVALSHA during the measured runs (the whole
script, inner commands included). Redis CPU: \`used_cpu_user + used_cpu_sys\` of the server (script and
network I/O) per decision. Node CPU: this process's CPU time per decision (client library, limiter,
ioredis, the bench loop). Averaged over all rounds. When Node and Redis share few cores, their sum
bounds decisions/s (at most cores x 1e6 / sum).

${markdownTable(costTable(results))}

Script anatomy: EVALSHA cost in Redis (INFO commandstats) of an empty script and of the Sluice decide
script's prelude alone, then each contender's real script with the commands it ran per decision.

${markdownTable(anatomyTable(results))}

## Contenders

${results.contenders.map((x) => `- \`${x.name}\`: ${x.what}`).join('\n')}

## Redis memory per active key

\`MEMORY USAGE key SAMPLES 0\` averaged over ${c.memoryKeys} keys per algorithm (found by SCAN on the
bench's Redis; 2 keys at the large cost), each filled by admitted decisions of one limit of 100 per hour
at cost 1, and by one decision of cost 1,000,000 (limit 1,000,000 per hour). The figure includes the
key name (its length is shown: the bench prefix is longer than a production one).

${markdownTable(memoryTable(results))}
`;
}

export async function writeResults(results: BenchResults, jsonPath: string, mdPath: string): Promise<void> {
  await mkdir(dirname(jsonPath), { recursive: true });
  await writeFile(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(mdPath, markdown(results));
}

function integer(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
