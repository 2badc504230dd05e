/**
 * Redis memory per active key, per Sluice algorithm, at cost 1 (one decision per key; and a sliding log
 * with 10 entries, a concurrency limit with 10 leases held) and after one decision of a large cost
 * (10^6 units at once, on a few keys), find them with SCAN on the bench's own Redis and average `MEMORY USAGE key SAMPLES 0`
 * (exact; it includes the key name, reported separately so it can be discounted).
 */
import type { Redis } from 'ioredis';
import { type AlgorithmName, createLimiter, RedisStore } from '../../dist/index.js';
import { KEY_ROOT } from './contenders.js';

export interface MemoryRow {
  algorithm: AlgorithmName;
  /** Decisions made per key (sliding-log entries, concurrency leases). */
  decisionsPerKey: number;
  /** Cost of each of those decisions. */
  cost: number;
  keysFound: number;
  avgBytes: number;
  minBytes: number;
  maxBytes: number;
  avgKeyNameBytes: number;
  encoding: string;
  exampleKey: string;
  /** What seed 002 claimed for the comparable structure, if anything. */
  seed002: string;
}

interface Fill {
  algorithm: AlgorithmName;
  decisionsPerKey: number;
  /** Cost of each decision: 1, or one large decision (LARGE_COST units at once). */
  cost: number;
  /** Keys filled, when not the bench's `keys` (a large cost is measured on a few keys). */
  keys?: number;
  seed002: string;
}

/** The large cost of one decision: a million units at once (a log holds one entry per unit today). */
export const LARGE_COST = 1_000_000;
/** Keys filled at the large cost (a log key then holds a million entries). */
const LARGE_COST_KEYS = 2;
const ALGORITHMS: AlgorithmName[] = [
  'sliding-log',
  'fixed-window',
  'sliding-window',
  'token-bucket',
  'concurrency',
];
const SEED_002: Record<AlgorithmName, string> = {
  'sliding-log': "~500 B (its exact 'sliding window', a log)",
  'fixed-window': '-',
  'sliding-window': '(~500 B, but that was a log)',
  'token-bucket': '~50 B',
  concurrency: '-',
};

const FILLS: Fill[] = [
  // Cost 1: one decision per key.
  ...ALGORITHMS.map((algorithm) => ({
    algorithm,
    decisionsPerKey: 1,
    cost: 1,
    seed002: SEED_002[algorithm],
  })),
  // A workload's log: 10 entries (10 leases held).
  { algorithm: 'sliding-log', decisionsPerKey: 10, cost: 1, seed002: SEED_002['sliding-log'] },
  { algorithm: 'concurrency', decisionsPerKey: 10, cost: 1, seed002: '-' },
  // One decision of a large cost.
  ...ALGORITHMS.map((algorithm) => ({
    algorithm,
    decisionsPerKey: 1,
    cost: LARGE_COST,
    keys: LARGE_COST_KEYS,
    seed002: '-',
  })),
];
const FILL_IN_FLIGHT = 64;

export async function measureMemoryPerKey(
  redisUrl: string,
  admin: Redis,
  keys: number,
): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  for (const fill of FILLS) rows.push(await measureOne(redisUrl, admin, keys, fill));
  return rows;
}

async function measureOne(redisUrl: string, admin: Redis, allKeys: number, fill: Fill): Promise<MemoryRow> {
  const keys = Math.min(allKeys, fill.keys ?? allKeys);
  const prefix = `${KEY_ROOT}:mem-${fill.algorithm}-${fill.decisionsPerKey}x${fill.cost}`;
  await fillKeys(redisUrl, prefix, keys, fill);
  // State keys only (`:s:`); decisions create no meta or block keys.
  const found = (await scanAll(admin, `${prefix}:*`)).filter((k) => k.includes(':s:'));
  if (found.length !== keys)
    throw new Error(`${fill.algorithm}: expected ${keys} keys, found ${found.length}`);
  const sizes = await Promise.all(
    found.map(async (k) => Number(await admin.call('MEMORY', 'USAGE', k, 'SAMPLES', '0'))),
  );
  const example = found[0] as string;
  return {
    algorithm: fill.algorithm,
    decisionsPerKey: fill.decisionsPerKey,
    cost: fill.cost,
    keysFound: found.length,
    avgBytes: average(sizes),
    minBytes: Math.min(...sizes),
    maxBytes: Math.max(...sizes),
    avgKeyNameBytes: average(found.map((k) => Buffer.byteLength(k))),
    encoding: String(await admin.call('OBJECT', 'ENCODING', example)),
    exampleKey: example,
    seed002: fill.seed002,
  };
}

/**
 * `keys` keys of one tenant, each given `decisionsPerKey` admitted decisions of `cost` (one limit of
 * 100, or `cost`, per hour). No time budget: a decision of a million units takes a while.
 */
async function fillKeys(redisUrl: string, prefix: string, keys: number, fill: Fill): Promise<void> {
  const store = new RedisStore({ url: redisUrl });
  await store.ready(); // decisions made before the connection fail at once
  const limiter = createLimiter({
    prefix,
    store,
    guard: false,
    // Cost 1: 100 per hour; a large cost: exactly that many per hour, so that it fits and a token
    // bucket's state (its TAT) lives the whole hour rather than a few seconds.
    limits: [{ algorithm: fill.algorithm, limit: Math.max(100, fill.cost), window: '1h' }],
  });
  const jobs: string[] = [];
  for (let i = 0; i < keys; i++) for (let j = 0; j < fill.decisionsPerKey; j++) jobs.push(`user-${i}`);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const key = jobs[next++] as string;
      const decision = await limiter.limit({ tenant: 'mem', key, cost: fill.cost });
      if (!decision.allowed)
        throw new Error(`${fill.algorithm}: fill decision rejected (${decision.reason})`);
    }
  };
  try {
    await Promise.all(Array.from({ length: fill.cost > 1 ? 1 : FILL_IN_FLIGHT }, worker));
  } finally {
    await limiter.close();
  }
}

async function scanAll(client: Redis, pattern: string): Promise<string[]> {
  const all: string[] = [];
  for await (const batch of client.scanStream({ match: pattern, count: 1000 }))
    all.push(...(batch as string[]));
  return [...new Set(all)]; // SCAN may return a key twice
}

function average(values: number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}
