import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../../src/core/types.js';
import { createLimiter, type Limiter } from '../../src/limiter.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { type RedisSentinel, type RedisServer, startRedis, startSentinel } from '../support/redis-servers.js';

const NAME = 'sluice-test';
const HOST = '127.0.0.1';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A plain client for admin commands; never retries, so a dead server fails fast. */
function adminClient(port: number): Redis {
  const client = new Redis({ host: HOST, port, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {}); // surfaced through the rejected commands
  return client;
}

/** Polls `check` until it returns a value other than undefined; throws with the last reason otherwise. */
async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not checked';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
      last = 'condition not met';
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${last})`);
    await sleep(100);
  }
}

/** Parses `key:value` lines of INFO. */
function parseInfo(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split(/\r?\n/)
      .filter((line) => line.includes(':') && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
  );
}

describe('Redis store through Sentinel', () => {
  let master: RedisServer | undefined;
  let replica: RedisServer | undefined;
  let sentinel: RedisSentinel | undefined;
  let sentinelClient: Redis | undefined;
  let store: RedisStore | undefined;
  let limiter: Limiter;

  beforeAll(async () => {
    // No 5 s diskless-sync delay: the replica attaches at once.
    master = await startRedis({ extraArgs: ['--repl-diskless-sync-delay', '0'] });
    replica = await startRedis({ extraArgs: ['--replicaof', HOST, String(master.port)] });
    const replicaAdmin = adminClient(replica.port);
    try {
      await waitFor('replica link up', 10_000, async () =>
        parseInfo(await replicaAdmin.info('replication'))['master_link_status'] === 'up' ? true : undefined,
      );
    } finally {
      replicaAdmin.disconnect();
    }
    sentinel = await startSentinel(master.port, NAME, { downAfterMs: 1000, failoverTimeoutMs: 3000 });
    sentinelClient = adminClient(sentinel.port);
    // The sentinel can only promote a replica it knows about and considers healthy.
    const replicaPort = replica.port;
    await waitFor('sentinel knows the replica', 15_000, async () => {
      const replicas = (await sentinelClient!.call('SENTINEL', 'REPLICAS', NAME)) as string[][];
      const ok = replicas.some((fields) => {
        const r: Record<string, string> = {};
        for (let i = 0; i + 1 < fields.length; i += 2) r[fields[i]!] = fields[i + 1]!;
        return (
          r['port'] === String(replicaPort) && r['flags'] === 'slave' && r['master-link-status'] === 'ok'
        );
      });
      return ok ? true : undefined;
    });
    store = new RedisStore({ sentinel: { sentinels: [{ host: HOST, port: sentinel.port }], name: NAME } });
    await store.ready();
    // A short breaker reset: after the failover the store is probed again within half a second (the
    // default 30 s would outlast this test).
    limiter = createLimiter({
      store,
      limits: [{ limit: 3, window: '1m' }],
      prefix: 'sentinel',
      guard: { breaker: { resetTimeoutMs: 500 } },
    });
  });

  afterAll(async () => {
    sentinelClient?.disconnect();
    if (store) {
      await Promise.race([store.close(), sleep(2000)]);
      store.client.disconnect();
    }
    await Promise.all([sentinel?.stop(), replica?.stop(), master?.stop()]);
  });

  it('decides through the master the sentinel names', async () => {
    const decisions: Decision[] = [];
    for (let i = 0; i < 4; i++) decisions.push(await limiter.limit({ tenant: 'acme', key: 'user-1' }));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([2, 1, 0, 0]);
    expect(decisions.every((d) => d.backend === 'redis')).toBe(true);
  });

  it('keeps deciding, with the replicated state, after the master is killed and the replica promoted', async () => {
    // The counters of the first test must be on the replica before the master dies.
    const masterAdmin = adminClient(master!.port);
    try {
      expect(await masterAdmin.call('WAIT', '1', '1000')).toBe(1);
    } finally {
      masterAdmin.disconnect();
    }

    await master!.kill();
    // While the sentinel still names the dead master, the failure mode decides (closed: 503-style
    // store_unavailable), never a rate-limit rejection.
    const during = await limiter.limit({ tenant: 'acme', key: 'user-1' });
    expect([during.allowed, during.reason, during.path]).toEqual([false, 'store_unavailable', 'fail-closed']);

    const replicaPort = replica!.port;
    await waitFor('sentinel promotes the replica', 20_000, async () => {
      const addr = (await sentinelClient!.call('SENTINEL', 'get-master-addr-by-name', NAME)) as string[];
      return addr[0] === HOST && addr[1] === String(replicaPort) ? true : undefined;
    });

    // Until the client has reconnected to the new master, the failure mode decides; then the store again.
    const paths = new Set<string>();
    const resumed = await waitFor('decisions resume', 10_000, async () => {
      const d = await limiter.limit({ tenant: 'acme', key: 'user-1' });
      paths.add(d.path);
      return d.path === 'store' ? d : undefined;
    });
    for (const path of paths) expect(['store', 'fail-closed']).toContain(path);

    // The replica had the counter: user-1 is still exhausted (a rejection consumes nothing, so retries are safe).
    expect(resumed.allowed).toBe(false);
    expect(resumed.remaining).toBe(0);
    // A new key on the new master is admitted.
    const fresh = await limiter.limit({ tenant: 'acme', key: 'user-2' });
    expect(fresh.allowed).toBe(true);
    expect(fresh.remaining).toBe(2);
    // The old replica really is the master now.
    const replicaAdmin = adminClient(replicaPort);
    try {
      expect(parseInfo(await replicaAdmin.info('replication'))['role']).toBe('master');
    } finally {
      replicaAdmin.disconnect();
    }
  }, 40_000);
});
