/** What both benchmarks read from the environment, and how they print it back. */

/** A positive number from the environment variable `name`, or `fallback` when unset. */
export function envNumber(name: string, fallback: number, whole = false): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (whole && !Number.isInteger(value))) {
    throw new Error(`${name}=${raw}: expected a positive ${whole ? 'whole ' : ''}number`);
  }
  return value;
}

/** A Redis URL fit for a report: its password masked. */
export function maskPassword(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/**
 * The settings in effect, as `NAME=value` words to repeat a run: the variables starting with `prefix`,
 * and BENCH_REDIS_URL (its password masked).
 */
export function benchSettings(prefix: string): string[] {
  return Object.keys(process.env)
    .filter((k) => k.startsWith(prefix) || k === 'BENCH_REDIS_URL')
    .sort()
    .map((k) => `${k}=${k === 'BENCH_REDIS_URL' ? maskPassword(process.env[k] ?? '') : process.env[k]}`);
}

/**
 * Set by `npm run bench` (bench/all.ts) for the spread bench: where the decisions bench of the same run
 * wrote its results (its single-key figures go into the spread bench's targets).
 */
export const DECISIONS_JSON_ENV = 'SLUICE_BENCH_DECISIONS_JSON';
