/** bench:service's report: the table, the targets of issue 15 and the machine's ceiling, as Markdown and JSON. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { MachineInfo } from '../lib/run-info.js';

export interface Row {
  store: string;
  how: string;
  decisionsPerSec: number;
  p50Us: number;
  p99Us: number;
  /** Requests/s of the half-rate runs (half of the maximum). */
  halfRate?: number;
  /** p50 and p99 at half of the maximum, paced open loop (bench/service/paced.ts). */
  pacedHalfP50Us?: number;
  pacedHalfP99Us?: number;
  /** p99 at half of the maximum with autocannon's overallRate (a burst at the start of every second). */
  burstHalfP99Us?: number;
  /** CPU per decision of the server process (the library's own process for the library rows). */
  serverCpuUs?: number;
  /** CPU per decision of the load generator (autocannon, in the bench's process). */
  loaderCpuUs?: number;
  /** CPU per decision of redis-server (INFO cpu). */
  redisCpuUs?: number;
  /** p99 of paced runs at fixed rates (requests/s -> µs). */
  pacedP99AtRateUs?: Record<string, number>;
  /** Requests of the paced run due but not sent by its end (every connection busy: the server fell behind). */
  pacedUnsent?: number;
  /** Cores busy with other processes of the machine during the run at the maximum (other agents' work). */
  othersCores?: number;
  errors: number;
}

const ms = (v: number | undefined) => (v === undefined ? '' : `${(v / 1000).toFixed(2)} ms`);
const us = (v: number | undefined) => (v === undefined ? '' : `${v.toFixed(1)} µs`);
const count = (v: number | undefined) => (v === undefined ? '' : Math.round(v).toLocaleString('en-US'));

export function report(
  rows: Row[],
  info: MachineInfo,
  settings: { seconds: number; tenants: number; connections: number; batch: number },
  loads: number[][],
): void {
  const load = loads.map((l) => l.map((v) => v.toFixed(2)).join(', '));
  const lines = [
    `# bench:service — ${info.date}`,
    '',
    `\`${info.command}\` — Node ${info.node}, Redis ${info.redis}, ${info.cpus} cores (${info.cpuModel}); ${settings.tenants} tenants, ${settings.connections} connections, ${settings.seconds} s per run; load average ${load[0]} at the start, ${load[1]} at the end`,
    '',
    '| store | how | decisions/s | p50 | p99 | half rate | p50 / p99 at half, paced | p99 at half, autocannon overallRate | CPU per decision: server | load generator | Redis | cores busy elsewhere | errors (paced: left unsent) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.store} | ${r.how} | ${count(r.decisionsPerSec)} | ${ms(r.p50Us)} | ${ms(r.p99Us)} | ${count(r.halfRate)} | ${r.pacedHalfP99Us === undefined ? '' : `${ms(r.pacedHalfP50Us)} / ${ms(r.pacedHalfP99Us)}`} | ${ms(r.burstHalfP99Us)} | ${us(r.serverCpuUs)} | ${us(r.loaderCpuUs)} | ${us(r.redisCpuUs)} | ${r.othersCores === undefined ? '' : r.othersCores.toFixed(2)} | ${r.errors}${r.pacedUnsent ? ` (${r.pacedUnsent})` : ''} |`,
    ),
    '',
    ...fixedRates(rows),
    ...targets(rows, settings.batch),
    '',
    'envoyproxy/ratelimit, published (not re-measured here): Lyft ran 200-250k requests/s on about 100 4-vCPU hosts (about 2,000-2,500 per host), p99 about 2 ms.',
  ];
  const text = `${lines.join('\n')}\n`;
  console.log(text);
  writeFileSync(fileURLToPath(new URL('../results/service.md', import.meta.url)), text);
  const json = { info, settings, loadAverage: { start: loads[0], end: loads[1] }, rows };
  writeFileSync(
    fileURLToPath(new URL('../results/service.json', import.meta.url)),
    `${JSON.stringify(json, null, 2)}\n`,
  );
}

/** p99 at fixed request rates (paced), where measured: how the tail grows with the load. */
function fixedRates(rows: Row[]): string[] {
  const measured = rows.filter((r) => r.pacedP99AtRateUs);
  if (measured.length === 0) return [];
  const rates = [...new Set(measured.flatMap((r) => Object.keys(r.pacedP99AtRateUs ?? {})))];
  rates.sort((a, b) => Number(a) - Number(b));
  return [
    `| p99, paced, at | ${rates.map((r) => `${count(Number(r))}/s`).join(' | ')} |`,
    `| --- | ${rates.map(() => '---:').join(' | ')} |`,
    ...measured.map(
      (r) => `| ${r.store}: ${r.how} | ${rates.map((rate) => ms(r.pacedP99AtRateUs?.[rate])).join(' | ')} |`,
    ),
    '',
  ];
}

function targets(rows: Row[], batch: number): string[] {
  const find = (store: string, how: string) => rows.find((r) => r.store === store && r.how === how);
  const library = rows.find((r) => r.store === 'redis' && r.how.startsWith('in-process'));
  const full = find('redis', 'HTTP /v1/check');
  const compact = find('redis', 'HTTP /v1/check?answer=compact');
  const batched = rows.find((r) => r.store === 'redis' && r.how.startsWith('HTTP /v1/check/batch'));
  if (!library || !full) return [];
  const ratio = (r: Row | undefined) => (r ? r.decisionsPerSec / library.decisionsPerSec : 0);
  const verdict = (met: boolean) => (met ? 'met' : 'missed');
  const throughput = (what: string, r: Row | undefined) =>
    `| one service process on Redis >= 0.5x the in-process library, ${what} | ${ratio(r).toFixed(2)}x | ${verdict(ratio(r) >= 0.5)} |`;
  const latency = (what: string, r: Row | undefined) =>
    `| p99 <= 2 ms at half of the maximum (Redis, paced), ${what} | ${ms(r?.pacedHalfP99Us)} | ${verdict((r?.pacedHalfP99Us ?? Infinity) <= 2000)} |`;
  return [
    '| target | measured | verdict |',
    '| --- | --- | --- |',
    throughput('one decision per request', full),
    throughput('compact answers', compact),
    throughput(`batches of ${batch}`, batched),
    latency('full answers', full),
    latency('compact answers', compact),
    '',
    ...ceiling(rows, library, full),
  ];
}

function ceiling(rows: Row[], library: Row, service: Row): string[] {
  const small = rows.find((r) => r.store === 'none' && r.how.includes('small'));
  const copy = rows.find((r) => r.store === 'none' && r.how.includes("service's answer"));
  if (!small) return [];
  const x = (r: Row | undefined) => (r ? (r.decisionsPerSec / library.decisionsPerSec).toFixed(2) : '?');
  const spent = (service.serverCpuUs ?? 0) + (service.loaderCpuUs ?? 0) + (service.redisCpuUs ?? 0);
  return [
    `Ceiling: bare Fastify answering a small body made ${count(small.decisionsPerSec)} requests/s (${x(small)}x the library on Redis; paced p99 at half ${ms(small.pacedHalfP99Us)}), sending a copy of the service's answer ${count(copy?.decisionsPerSec)} (${x(copy)}x); the service on Redis made ${(service.decisionsPerSec / small.decisionsPerSec).toFixed(2)}x of the first.`,
    `CPU per decision on Redis, one per request: server ${us(service.serverCpuUs)} + load generator ${us(service.loaderCpuUs)} + Redis ${us(service.redisCpuUs)} = ${us(spent)}, at most ${count(2e6 / spent)} decisions/s on 2 cores.`,
  ];
}
