/**
 * Redis memory per active key, per Sluice algorithm: fill `keys` keys the way a real workload would
 * (a sliding log with 10 entries, a concurrency limit with 10 leases held, one decision for the
 * counters), find them with SCAN on the bench's own Redis and average `MEMORY USAGE key SAMPLES 0`
 * (exact; it includes the key name, reported separately so it can be discounted).
 */
import type { Redis } from 'ioredis';
import { type AlgorithmName, createLimiter, RedisStore } from '../../dist/index.js';
import { KEY_ROOT } from './contenders.js';

export interface MemoryRow {
  algorithm: AlgorithmName;
  /** Decisions made per key (sliding-log entries, concurrency leases). */
  decisionsPerKey: number;
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
  seed002: string;
}

const FILLS: Fill[] = [
  { algorithm: 'sliding-log', decisionsPerKey: 10, seed002: "~500 B (its exact 'sliding window', a log)" },
  { algorithm: 'fixed-window', decisionsPerKey: 1, seed002: '-' },
  { algorithm: 'sliding-window', decisionsPerKey: 1, seed002: '(~500 B, but that was a log)' },
  { algorithm: 'token-bucket', decisionsPerKey: 1, seed002: '~50 B' },
  { algorithm: 'concurrency', decisionsPerKey: 10, seed002: '-' },
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

async function measureOne(redisUrl: string, admin: Redis, keys: number, fill: Fill): Promise<MemoryRow> {
  const prefix = `${KEY_ROOT}:mem-${fill.algorithm}`;
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

/** `keys` keys of one tenant, each given `decisionsPerKey` admitted decisions (limit 100 per hour). */
async function fillKeys(redisUrl: string, prefix: string, keys: number, fill: Fill): Promise<void> {
  const store = new RedisStore({ url: redisUrl });
  await store.ready(); // decisions made before the connection fail at once
  const limiter = createLimiter({
    prefix,
    store,
    limits: [{ algorithm: fill.algorithm, limit: 100, window: '1h' }],
  });
  const jobs: string[] = [];
  for (let i = 0; i < keys; i++) for (let j = 0; j < fill.decisionsPerKey; j++) jobs.push(`user-${i}`);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const key = jobs[next++] as string;
      const decision = await limiter.limit({ tenant: 'mem', key });
      if (!decision.allowed)
        throw new Error(`${fill.algorithm}: fill decision rejected (${decision.reason})`);
    }
  };
  try {
    await Promise.all(Array.from({ length: FILL_IN_FLIGHT }, worker));
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
