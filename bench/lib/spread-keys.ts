/**
 * The key spreads of the spread bench: a generator per scenario that names the key (and tenant) of each
 * decision. Every generator is deterministic: `reset()` restarts the same sequence, so every contender
 * of a scenario sees the same keys in the same order.
 */

/** Who one decision is about. `index` is the key's number (used to derive an IP for the policy contender). */
export interface Pick {
  tenant: string;
  key: string;
  index: number;
}

export interface Scenario {
  name: string;
  what: string;
  /**
   * The limit every window of every contender gets in this scenario: 1e9 (never reached: all admitted)
   * or HOT_KEY_LIMIT (the hot-key scenario: the first decisions on a key are admitted, the rest rejected).
   */
  limit: number;
  /** True when each decision is its own tenant (the policy contender's tier bucket is per tenant). */
  tenantPerKey: boolean;
  next(): Pick;
  reset(): void;
}

/** Mulberry32: a small, fast, seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TENANT = 'bench';

function fromIndex(
  name: string,
  what: string,
  seed: number,
  indexOf: (random: () => number) => number,
  options: { tenantPerKey?: boolean } = {},
): Scenario {
  let random = mulberry32(seed);
  const tenantPerKey = options.tenantPerKey ?? false;
  return {
    name,
    what,
    limit: 0, // set by the caller
    tenantPerKey,
    next: () => {
      const index = indexOf(random);
      const key = `u${index}`;
      return { tenant: tenantPerKey ? key : TENANT, key, index };
    },
    reset: () => {
      random = mulberry32(seed);
    },
  };
}

/** Uniform over `keys` keys. */
function uniform(name: string, keys: number, seed: number, tenantPerKey = false): Scenario {
  return fromIndex(
    name,
    tenantPerKey
      ? `each decision its own tenant (tenant = key, so its own Cluster hash tag), uniform over ${keys.toLocaleString('en-US')} keys`
      : `one tenant, keys uniform over ${keys.toLocaleString('en-US')}`,
    seed,
    (random) => Math.floor(random() * keys),
    { tenantPerKey },
  );
}

/**
 * Zipf(s) over `keys` keys: the cumulative distribution is computed once (a Float64Array of `keys`),
 * each draw is a binary search in it. Key 0 is the most frequent.
 */
function zipf(name: string, keys: number, s: number, seed: number): Scenario {
  const cdf = new Float64Array(keys);
  let total = 0;
  for (let k = 0; k < keys; k++) {
    total += 1 / (k + 1) ** s;
    cdf[k] = total;
  }
  for (let k = 0; k < keys; k++) cdf[k] = (cdf[k] as number) / total;
  const top = (cdf[0] as number) * 100;
  return fromIndex(
    name,
    `one tenant, keys Zipf(${s}) over ${keys.toLocaleString('en-US')} (the hottest key gets ${top.toFixed(1)} % of decisions)`,
    seed,
    (random) => {
      const u = random();
      let lo = 0;
      let hi = keys - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((cdf[mid] as number) < u) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    },
  );
}

/**
 * One hot key at a time, about 90 % rejected: every window's limit is `limit`, and the key changes every
 * `perKey` decisions (decisions 0-999 on `hot0`, 1000-1999 on `hot1`, ...). Those decisions land within
 * a few tens of milliseconds, far inside the 1-3 s windows, so the first `limit` are admitted and the
 * rest rejected: a key stays hot long after it is denied, which a local cache of denials can serve
 * (with 10 decisions per key and 64 in flight, all of a key's decisions would be in flight at once and
 * no cache could). The admitted share is measured and reported (a window boundary inside a key's burst
 * admits up to twice the limit), and so is any over-admission (see admission.ts).
 */
function hotKey(name: string, perKey: number, limit: number): Scenario {
  let i = 0;
  return {
    name,
    what:
      `one hot key at a time: limit ${limit} per window, the key changes every ` +
      `${perKey.toLocaleString('en-US')} decisions (about ${Math.round(100 - (100 * limit) / perKey)} % rejected)`,
    limit,
    tenantPerKey: false,
    next: () => {
      const index = Math.floor(i++ / perKey);
      return { tenant: TENANT, key: `hot${index}`, index };
    },
    reset: () => {
      i = 0;
    },
  };
}

/** Decisions per hot key, and the limit of every window in the hot-key scenario (~90 % rejected). */
export const HOT_KEY_DECISIONS = 1000;
export const HOT_KEY_LIMIT = 100;

/** The scenarios in report order. Limits: 1e9 (`huge`) except the hot-key scenario. */
export function createScenarios(huge: number): Scenario[] {
  const spread = [
    uniform('uniform-10k', 10_000, 1),
    uniform('uniform-1m', 1_000_000, 2),
    zipf('zipf-1.1-1m', 1_000_000, 1.1, 3),
    uniform('tenants-1m', 1_000_000, 4, true),
  ].map((s) => ({ ...s, limit: huge }));
  return [...spread, hotKey('hot-key-90-rejected', HOT_KEY_DECISIONS, HOT_KEY_LIMIT)];
}
