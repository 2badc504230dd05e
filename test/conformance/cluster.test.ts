import { afterAll, beforeAll, describe } from 'vitest';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import { type RedisCluster, startCluster } from '../support/redis-servers.js';
import { type Harness, realTimeHarness } from './harness.js';
import { conformanceSuite } from './suite.js';

describe('conformance: Redis Cluster (3 masters + replicas, server clocks)', () => {
  let cluster: RedisCluster;
  let harness: Harness;
  beforeAll(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
    const store = new RedisStore({ cluster: { nodes: cluster.startupNodes } });
    await store.ready(); // decisions made before the first connection fail at once
    harness = realTimeHarness('cluster', store);
  });
  afterAll(async () => {
    await harness?.store.close();
    await cluster?.stop();
  });
  conformanceSuite(() => harness);
});
