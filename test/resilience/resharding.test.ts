/**
 * Redis Cluster resharding: the hash slot of a tenant is moved by hand to another master (the standard
 * SETSLOT IMPORTING / MIGRATING, GETKEYSINSLOT + MIGRATE, SETSLOT NODE procedure) while decisions keep
 * flowing. The Cluster client follows ASK and MOVED redirections: the store keeps deciding, and the final
 * count on the new owner is exactly the counts made before plus those the store admitted during and after
 * the move — nothing lost, nothing counted twice.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLimiter, RedisStore } from '../../src/index.js';
import { keySlot, type RedisCluster, startCluster } from '../support/redis-servers.js';
import {
  maxLatency,
  now,
  peekStore,
  report,
  round,
  type Sample,
  sleep,
  startLoad,
  tally,
  warmUp,
  watchUnhandledRejections,
} from './support.js';

const LIMIT = 1_000_000;
const PREFIX = 'reshard';
/** Plain [a-z]: the encoded tenant is the tenant, so every key of it carries the hash tag `{reshardtenant}`. */
const TENANT = 'reshardtenant';
const BEFORE = 200;
const IN_FLIGHT = 8;
/**
 * Extra keys in the slot, so the migration takes several small steps with decisions between them. Kept
 * short: while the slot is MIGRATING and only some of a script's keys are still on the source, Redis can answer
 * TRYAGAIN, which the client retries every 100 ms: decisions may wait for the move, well within the budget.
 */
const FILLER_KEYS = 20;
const STEP_PAUSE_MS = 10;
const AFTER_MS = 500;

describe('Redis Cluster: live resharding of the tenant’s slot (ASK / MOVED)', () => {
  let cluster: RedisCluster;

  beforeAll(async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('decisions continue through the migration, with exact counts on the new owner', async () => {
    const rejections = watchUnhandledRejections();
    const slot = keySlot(`{${TENANT}}`);
    const srcPort = await cluster.masterPortForSlot(slot);
    const dstPort = cluster.nodes.map((n) => n.port).find((p) => p !== srcPort)!;
    const plain = new Map(
      cluster.nodes.map((n) => [n.port, new Redis(n.port, n.host, { maxRetriesPerRequest: 1 })]),
    );
    const src = plain.get(srcPort)!;
    const dst = plain.get(dstPort)!;
    const limiter = createLimiter({
      store: new RedisStore({ cluster: { nodes: cluster.startupNodes } }),
      limits: [{ limit: LIMIT, window: '1h' }],
      prefix: PREFIX,
      guard: { budgetMs: 500, breaker: { resetTimeoutMs: 200 } },
    });
    const request = { tenant: TENANT, key: 'k' };
    let load: ReturnType<typeof startLoad> | undefined;
    try {
      await warmUp(limiter, request);
      const before = [];
      for (let i = 0; i < BEFORE / 20; i++) {
        before.push(...(await Promise.all(Array.from({ length: 20 }, () => limiter.limit(request)))));
      }
      expect(before.every((d) => d.path === 'store' && d.allowed)).toBe(true);
      for (let i = 0; i < FILLER_KEYS; i++) await src.set(`{${TENANT}}:filler:${i}`, String(i));

      const srcId = String(await src.call('CLUSTER', 'MYID'));
      const dstId = String(await dst.call('CLUSTER', 'MYID'));

      load = startLoad(() => limiter.limit(request), IN_FLIGHT);
      await sleep(100); // decisions before the move starts, on the old owner
      const moveStart = now();
      await dst.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', srcId);
      await src.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', dstId);
      let steps = 0;
      let moved = 0;
      for (;;) {
        const keys = (await src.call('CLUSTER', 'GETKEYSINSLOT', String(slot), '2')) as string[];
        if (keys.length === 0) break;
        await src.call('MIGRATE', '127.0.0.1', String(dstPort), '', '0', '5000', 'KEYS', ...keys);
        steps++;
        moved += keys.length;
        await sleep(STEP_PAUSE_MS);
      }
      // The new owner first, then the old one, then the others (the standard order).
      await dst.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', dstId);
      await src.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', dstId);
      for (const [port, conn] of plain) {
        if (port !== srcPort && port !== dstPort)
          await conn.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', dstId);
      }
      const moveEnd = now();
      await sleep(AFTER_MS);
      await load.stop();

      const samples = load.samples;
      const isStore = (s: Sample) => s.path === 'store';
      const during = samples.filter((s) => s.end >= moveStart && s.start <= moveEnd);
      const after = samples.filter((s) => s.start > moveEnd);
      const failed = samples.filter((s) => !isStore(s));
      const admitted = samples.filter((s) => isStore(s) && s.allowed).length;
      const peek = await peekStore(limiter, request);
      const used = LIMIT - peek.remaining;
      const newOwner = await cluster.masterPortForSlot(slot);

      report(
        `cluster resharding: slot ${slot} moved :${srcPort} -> :${newOwner} in ${round(moveEnd - moveStart)} ms ` +
          `(${moved} keys in ${steps} MIGRATE steps, ${STEP_PAUSE_MS} ms pauses); ${samples.length} decisions under load ` +
          `(${during.length} overlapping the move ${JSON.stringify(tally(during, 'path'))}, ` +
          `${after.length} after it ${JSON.stringify(tally(after, 'path'))}); ` +
          `${failed.length} failure decisions ${JSON.stringify(tally(failed, 'errorCode'))}; ` +
          `max latency ${maxLatency(samples).toFixed(1)} ms; ` +
          `count ${used} = ${BEFORE} before + ${admitted} admitted by the store (diff ${used - BEFORE - admitted})`,
      );

      expect(newOwner).toBe(dstPort);
      expect(load.thrown, 'errors thrown to callers').toEqual([]);
      expect(rejections.seen, 'unhandled rejections').toEqual([]);
      expect(after.length).toBeGreaterThan(0);
      expect(tally(after, 'path')).toEqual({ store: after.length });
      expect(samples.filter((s) => isStore(s) && !s.allowed)).toEqual([]);
      expect(peek.path).toBe('store');
      expect(used).toBe(BEFORE + admitted);
    } finally {
      await load?.stop();
      rejections.dispose();
      for (const conn of plain.values()) conn.disconnect();
      await limiter.close();
    }
  }, 60_000);
});
