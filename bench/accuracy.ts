/**
 * Accuracy of the sliding-window counter against the exact sliding log. Deterministic: each trace
 * (arrival instants, cost 1 each) is replayed through two limiters of the same limit and window — one
 * `sliding-window`, one `sliding-log` (exact) — each on its own memory store driven by a ManualClock,
 * so every figure is exact and the same on every run. Reported per trace: the most units admitted in
 * any real sliding window of the window's length (the limit is the ceiling), how many decisions differ
 * from the exact log's, and the admitted totals. Prints a table and writes bench/results/accuracy.md.
 *
 *   npm run bench:accuracy
 */

import { writeFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AlgorithmName, createLimiter, ManualClock, MemoryStore } from '../dist/index.js';
import { markdownTable, type Table, textTable } from './lib/report.js';
import { mulberry32 } from './lib/spread-keys.js';

const LIMIT = 100;
const WINDOW_MS = 60_000;
const WINDOWS = 20;
const DURATION_MS = WINDOWS * WINDOW_MS;
/** Trace instants are offsets from an instant on a window boundary (windows are epoch-aligned). */
const START = Math.floor(1_700_000_000_000 / WINDOW_MS) * WINDOW_MS;
const RESULTS_MD = fileURLToPath(new URL('./results/accuracy.md', import.meta.url));

/** The spread bench's seeded PRNG (mulberry32): the random traces are the same on every run. */
const rng = mulberry32;

/** An exponentially distributed gap of mean `mean` (ms). */
const gap = (random: () => number, mean: number) => -mean * Math.log(1 - random());

/** Poisson arrivals at `perWindow` per window from `from` to `to` (exponential gaps, whole ms). */
function poisson(random: () => number, perWindow: number, from: number, to: number): number[] {
  const out: number[] = [];
  const mean = WINDOW_MS / perWindow;
  for (let t = from + gap(random, mean); t < to; t += gap(random, mean)) out.push(Math.floor(t));
  return out;
}

interface Trace {
  name: string;
  description: string;
  arrivals: number[];
}

function traces(): Trace[] {
  const steady1 = poisson(rng(1), LIMIT, 0, DURATION_MS);
  const steady2 = poisson(rng(2), 2 * LIMIT, 0, DURATION_MS);

  // On 6 s at 10x the limit's rate, off 24 s: 2x the rate on average, in bursts.
  const onOff: number[] = [];
  const random3 = rng(3);
  for (let t = 0; t < DURATION_MS; t += 30_000) onOff.push(...poisson(random3, 10 * LIMIT, t, t + 6_000));

  // `limit` arrivals spread over the last 100 ms before a boundary and `limit` over the first 100 ms
  // after it, every other window (fixed windows' worst case: 2x the limit across the boundary).
  const aligned: number[] = [];
  for (let w = 1; w < WINDOWS; w += 2) {
    const boundary = w * WINDOW_MS;
    for (let i = 0; i < LIMIT; i++) aligned.push(boundary - 100 + i);
    for (let i = 0; i < LIMIT; i++) aligned.push(boundary + i);
  }

  // The counter's worst case: `limit` units in the last millisecond of a window after an idle one,
  // then an arrival every 100 ms through the next window; idle for the third window of each cycle.
  const worst: number[] = [];
  for (let w = 1; w + 1 < WINDOWS; w += 3) {
    const boundary = (w + 1) * WINDOW_MS;
    for (let i = 0; i < LIMIT; i++) worst.push(boundary - 1);
    for (let t = boundary; t < boundary + WINDOW_MS; t += 100) worst.push(t);
  }

  // Random bursts (seed 42): a burst every 5 s on average, each 1-40 arrivals spread over 0-2 s.
  const random = rng(42);
  const mixed: number[] = [];
  for (let t = gap(random, 5_000); t < DURATION_MS; t += gap(random, 5_000)) {
    const size = 1 + Math.floor(random() * 40);
    const spread = random() * 2_000;
    for (let i = 0; i < size; i++) mixed.push(Math.floor(t + random() * spread));
  }

  const rate = `${LIMIT} per ${WINDOW_MS / 1000} s`;
  return [
    {
      name: 'steady 1x',
      description: `Poisson arrivals at the limit's rate (${rate}), seed 1`,
      arrivals: steady1,
    },
    { name: 'steady 2x', description: 'Poisson arrivals at twice the rate, seed 2', arrivals: steady2 },
    {
      name: 'on/off',
      description: 'on 6 s at 10x the rate, off 24 s (2x on average), seed 3',
      arrivals: onOff,
    },
    {
      name: 'boundary bursts',
      description: 'limit arrivals in the 100 ms before a boundary and limit in the 100 ms after it',
      arrivals: aligned,
    },
    {
      name: 'counter worst case',
      description: 'limit arrivals in the last ms of a window after an idle one, then one every 100 ms',
      arrivals: worst,
    },
    {
      name: 'random bursts',
      description: 'a burst every 5 s on average, 1-40 arrivals over 0-2 s each, seed 42',
      arrivals: mixed,
    },
  ].map((t) => ({
    ...t,
    arrivals: t.arrivals.filter((a) => a >= 0 && a < DURATION_MS).sort((a, b) => a - b),
  }));
}

/** The admitted flag of each arrival, replayed through one limiter on a driven clock. */
async function replay(algorithm: AlgorithmName, arrivals: readonly number[]): Promise<boolean[]> {
  const clock = new ManualClock(START);
  const limiter = createLimiter({
    store: new MemoryStore({ clock: clock.now }),
    limits: [{ name: 'l', algorithm, limit: LIMIT, window: WINDOW_MS }],
  });
  const admitted: boolean[] = [];
  for (const t of arrivals) {
    clock.set(START + t);
    admitted.push((await limiter.limit({ tenant: 'accuracy', key: 'k' })).allowed);
  }
  await limiter.close();
  return admitted;
}

/** Most units admitted in any real window (t - W, t] (it peaks at an admission instant). */
function maxInWindow(arrivals: readonly number[], admitted: readonly boolean[]): { max: number; at: number } {
  const times = arrivals.filter((_, i) => admitted[i]);
  let best = { max: 0, at: 0 };
  let first = 0;
  for (let i = 0; i < times.length; i++) {
    const end = times[i] as number;
    while ((times[first] as number) <= end - WINDOW_MS) first++;
    // Every admission at the same instant as `end` belongs to the window too.
    let last = i;
    while (last + 1 < times.length && times[last + 1] === end) last++;
    if (last - first + 1 > best.max) best = { max: last - first + 1, at: end };
  }
  return best;
}

interface Row {
  trace: Trace;
  arrivals: number;
  counter: { admitted: number; max: number; at: number };
  log: { admitted: number; max: number };
  differ: number;
  counterOnly: number;
  logOnly: number;
}

async function measure(trace: Trace): Promise<Row> {
  const counter = await replay('sliding-window', trace.arrivals);
  const log = await replay('sliding-log', trace.arrivals);
  let counterOnly = 0;
  let logOnly = 0;
  counter.forEach((c, i) => {
    if (c && !log[i]) counterOnly++;
    if (!c && log[i]) logOnly++;
  });
  const logMax = maxInWindow(trace.arrivals, log);
  if (logMax.max > LIMIT) throw new Error(`${trace.name}: the exact log admitted ${logMax.max} in a window`);
  const counterMax = maxInWindow(trace.arrivals, counter);
  return {
    trace,
    arrivals: trace.arrivals.length,
    counter: { admitted: counter.filter(Boolean).length, max: counterMax.max, at: counterMax.at },
    log: { admitted: log.filter(Boolean).length, max: logMax.max },
    differ: counterOnly + logOnly,
    counterOnly,
    logOnly,
  };
}

const pct = (n: number, of: number) => `${((100 * n) / of).toFixed(1)} %`;

function table(rows: Row[]): Table {
  return {
    headers: [
      'trace',
      'arrivals',
      'counter: max in a real window',
      'log: max',
      'decisions differing',
      'counter admits, log rejects / opposite',
      'admitted: counter / log',
    ],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows: rows.map((r) => [
      r.trace.name,
      String(r.arrivals),
      `${r.counter.max} (${(r.counter.max / LIMIT).toFixed(2)}x)`,
      String(r.log.max),
      `${r.differ} (${pct(r.differ, r.arrivals)})`,
      `${r.counterOnly} / ${r.logOnly}`,
      `${r.counter.admitted} / ${r.log.admitted}`,
    ]),
  };
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  const rows: Row[] = [];
  for (const trace of traces()) rows.push(await measure(trace));
  const bound = LIMIT + Math.floor((LIMIT * (WINDOW_MS - 2)) / WINDOW_MS);
  const header =
    `Sliding-window counter vs exact sliding log: limit ${LIMIT} per ${WINDOW_MS / 1000} s, ` +
    `${WINDOWS} windows per trace, memory store on a ManualClock (exact, deterministic).\n` +
    `Analytic worst case of the counter: ${bound} units in one real window (limit + floor(limit x (W - 2 ms) / W)).`;
  console.log(`${header}\n`);
  console.log(textTable(table(rows)));
  for (const r of rows) console.log(`  ${r.trace.name}: ${r.trace.description}`);
  console.log(`\n${Math.round(performance.now() - startedAt)} ms`);
  const md = [
    '# Accuracy: sliding-window counter vs exact sliding log',
    '',
    `\`npm run bench:accuracy\` (${new Date().toISOString().slice(0, 10)}). ${header}`,
    '',
    markdownTable(table(rows)),
    '',
    ...rows.map((r) => `- **${r.trace.name}**: ${r.trace.description}.`),
    '',
  ].join('\n');
  await writeFile(RESULTS_MD, md);
  console.log(`Written: ${relative(process.cwd(), RESULTS_MD)}`);
}

await main();
