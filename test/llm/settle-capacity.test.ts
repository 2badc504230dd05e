/**
 * What `sluice/llm`'s settlement relies on, on memory, Redis and Cluster: a counter is named by its
 * limit's name, algorithm and window, not by its size, so deciding the same limit with size
 * `limit + debt` charges the same counter past `limit`, by at most `debt`; and a decision with size
 * `limit` then sees it. (No engine or store change was needed for "charge the excess up to a debt".)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLimiter, type Limiter, ManualClock, MemoryStore, RedisStore } from '../../src/index.js';
import { EPOCH, freshPrefix } from '../regressions/support.js';
import { type RedisCluster, type RedisServer, startCluster, startRedis } from '../support/redis-servers.js';

let server: RedisServer;
let cluster: RedisCluster;
let redis: RedisStore;
let clustered: RedisStore;

beforeAll(async () => {
  [server, cluster] = await Promise.all([startRedis(), startCluster({ masters: 3, replicasPerMaster: 0 })]);
  redis = new RedisStore({ url: server.url });
  clustered = new RedisStore({ cluster: { nodes: cluster.startupNodes.map((n) => `${n.host}:${n.port}`) } });
  await Promise.all([redis.ready(), clustered.ready()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([redis?.close(), clustered?.close()]);
  await Promise.all([server?.stop(), cluster?.stop()]);
});

const view = (store: RedisStore) => Object.create(store, { close: { value: async () => {} } }) as RedisStore;
const stores: Record<string, () => Limiter> = {
  memory: () =>
    createLimiter({ store: new MemoryStore({ clock: new ManualClock(EPOCH).now }), prefix: freshPrefix() }),
  redis: () => createLimiter({ store: view(redis), prefix: freshPrefix(), guard: false }),
  cluster: () => createLimiter({ store: view(clustered), prefix: freshPrefix(), guard: false }),
};

describe.each(Object.keys(stores))(
  'a limit decided with a larger size charges the same counter (%s)',
  (name) => {
    it.each(['sliding-log', 'fixed-window'] as const)(
      '%s: past the limit by at most the debt',
      async (algorithm) => {
        const limiter = (stores[name] as () => Limiter)();
        const base = { name: 'tpm', algorithm, limit: 100, window: '1h' };
        const withDebt = { ...base, limit: 130 };
        const at = (limit: typeof base, cost: number) =>
          limiter.decide({ tenant: 't', checks: [{ limit, key: 'u' }], cost });
        expect((await at(base, 90)).allowed).toBe(true);
        expect((await at(base, 20)).allowed).toBe(false); // a reservation must fit in the limit
        const excess = await at(withDebt, 35);
        expect(excess.allowed).toBe(true); // an excess may take it to 125 <= 130
        expect(excess.remaining).toBe(5);
        const over = await at(withDebt, 6);
        expect(over.allowed).toBe(false); // never past limit + debt
        expect(over.remaining).toBe(5);
        const seen = await at(base, 0);
        expect(seen.remaining).toBe(0); // the limit sees the debt: nothing is admitted until it is paid back
        expect((await at(base, 1)).allowed).toBe(false);
      },
    );
  },
);
