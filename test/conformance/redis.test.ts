import { afterAll, beforeAll, describe } from 'vitest';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';
import { type Harness, realTimeHarness } from './harness.js';
import { conformanceSuite } from './suite.js';

describe('conformance: Redis store (single node, server clock)', () => {
  let server: RedisServer;
  let harness: Harness;
  beforeAll(async () => {
    server = await startRedis();
    const store = new RedisStore({ url: server.url });
    await store.ready(); // decisions made before the first connection fail at once
    harness = realTimeHarness('redis', store);
  });
  afterAll(async () => {
    await harness?.store.close();
    await server?.stop();
  });
  conformanceSuite(() => harness);
});
