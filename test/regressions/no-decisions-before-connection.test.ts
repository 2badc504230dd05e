/**
 * Issue 10, defect 5: decisions made before the first connection were counted later. With Redis down
 * at startup, decisions answered by the failure mode waited in ioredis' offline queue and ran when
 * Redis came up. Sluice now never hands a call to a client that is not connected (the call fails at
 * once with ERR_SLUICE_STORE_UNAVAILABLE: the failure mode decides, nothing is queued), and refuses a
 * client passed in that would re-send commands after a reconnect.
 */
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { createLimiter, type LimitDefinition, RedisStore } from '../../src/index.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';
import { logEntries } from './support.js';

const LIMITS: LimitDefinition[] = [{ name: 'log', algorithm: 'sliding-log', limit: 100, window: '1h' }];
const KEY = 'early:{t}:s:k:log:sl3600000';

describe('decisions made before the first connection', () => {
  let server: RedisServer;
  let admin: Redis;

  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url, { maxRetriesPerRequest: 1, lazyConnect: true });
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  it('fail at once, and are not counted when Redis comes up', async () => {
    await server.kill(); // nothing listens on the port
    // Reconnection attempts 300 ms apart: Redis is up again before the client's next attempt, which
    // (before the fix) found its offline queue still full and ran it.
    const store = new RedisStore({ url: server.url, redisOptions: { retryStrategy: () => 300 } });
    const limiter = createLimiter({ store, limits: LIMITS, prefix: 'early' });
    try {
      const started = Date.now();
      const decisions = await Promise.all(
        Array.from({ length: 20 }, () => limiter.limit({ tenant: 't', key: 'k' })),
      );
      for (const decision of decisions) expect(decision.path).toBe('fail-closed');

      await server.restart();
      await store.ready(10_000);
      expect(Date.now() - started).toBeGreaterThan(300); // connected on a reconnection attempt
      await new Promise((resolve) => setTimeout(resolve, 100)); // anything queued would have run by now
      await admin.connect();
      expect(await logEntries(admin, KEY)).toBe(0);
      expect(await admin.exists(KEY)).toBe(0);

      const fresh = await limiter.limit({ tenant: 't', key: 'k' });
      expect(fresh.path).toBe('store');
      expect(fresh.allowed).toBe(true);
      expect(fresh.remaining).toBe(99);
      expect(await logEntries(admin, KEY)).toBe(1);
      // Refused at once as not sent (UNAVAILABLE, not a TIMEOUT after the 50 ms budget): said by the
      // code, not timed (the machine is shared).
      for (const decision of decisions) {
        expect(decision.storeError?.code).toBe('ERR_SLUICE_STORE_UNAVAILABLE');
      }
    } finally {
      await limiter.close();
    }
  });

  it('on a Cluster client too: refused at once while it is not connected', async () => {
    const dead = { host: '127.0.0.1', port: server.port + 1 };
    const store = new RedisStore({
      cluster: { nodes: [dead], options: { clusterRetryStrategy: () => null } },
    });
    store.client.on('error', () => {});
    const limiter = createLimiter({ store, limits: LIMITS, prefix: 'early-cluster' });
    try {
      const decisions = await Promise.all(
        Array.from({ length: 5 }, () => limiter.limit({ tenant: 't', key: 'k' })),
      );
      for (const decision of decisions) {
        expect(decision.path).toBe('fail-closed');
        expect(decision.storeError?.code).toBe('ERR_SLUICE_STORE_UNAVAILABLE');
      }
    } finally {
      await limiter.close();
    }
  });

  it('a client passed in that re-sends commands after a reconnect is refused', () => {
    const unsafe = new Redis(server.url, { lazyConnect: true });
    expect(() => new RedisStore({ client: unsafe })).toThrow(ValidationError);
    expect(() => new RedisStore({ client: unsafe })).toThrow(/autoResendUnfulfilledCommands: false/);
    const unsafeCluster = new Cluster([{ host: '127.0.0.1', port: server.port }], { lazyConnect: true });
    expect(() => new RedisStore({ client: unsafeCluster })).toThrow(ValidationError);
    expect(() => new RedisStore({ client: unsafeCluster })).toThrow(
      /redisOptions: \{ autoResendUnfulfilledCommands: false \}/,
    );

    const safe = new Redis(server.url, { lazyConnect: true, autoResendUnfulfilledCommands: false });
    expect(new RedisStore({ client: safe }).client).toBe(safe);
    const safeCluster = new Cluster([{ host: '127.0.0.1', port: server.port }], {
      lazyConnect: true,
      redisOptions: { autoResendUnfulfilledCommands: false },
    });
    expect(new RedisStore({ client: safeCluster }).client).toBe(safeCluster);
    for (const client of [unsafe, unsafeCluster, safe, safeCluster]) client.disconnect();
  });
});
