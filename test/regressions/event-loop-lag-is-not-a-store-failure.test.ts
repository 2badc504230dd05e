/**
 * Issue 11: a busy application is not a failed store. Decisions sent to a healthy Redis whose replies
 * arrived in time, but sat unread in the socket while the event loop was blocked, were declared late
 * (ERR_SLUICE_STORE_TIMEOUT: failure mode `closed` answers `store_unavailable`), and counted as store
 * failures by the breaker, which opened and denied everything for its reset timeout.
 *
 * The sequence: the batch leaves (in the check phase of one turn); Redis answers it within the budget,
 * after 30 ms (a `DEBUG SLEEP 0.03` from another client just ahead of it), so the next turn's poll phase
 * finds nothing to read; the event loop is then blocked for 120 ms (the replies arrive during the block);
 * then the deadline keeper's tick runs, in the same check phase, before any poll phase has read the
 * replies, and expired every decision. Now the keeper expires a call only once a poll phase has run
 * since its deadline (and discounts the event-loop lag it measured), so every decision is the store's.
 */
import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLimiter, type LimitDefinition, type RedisStore } from '../../src/index.js';
import { useRedis } from './support.js';

/** One coalesced batch (fewer than the store's maxBatch, 16): it leaves in the turn's check phase. */
const N = 12;
const BLOCK_MS = 120;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function busyWait(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // the application's own CPU-bound work: the event loop is blocked
  }
}

describe('event-loop lag after the send is not a store failure', () => {
  let admin: Redis;
  let store: RedisStore;
  const redis = useRedis(['--enable-debug-command', 'yes']);
  beforeAll(() => {
    ({ admin, store } = redis);
  });

  it(`${N} decisions sent, then the loop blocked ${BLOCK_MS} ms while their replies arrive: all the store's`, async () => {
    const limits: LimitDefinition[] = [
      { name: 'l', algorithm: 'sliding-window', limit: 1_000_000, window: '1h' },
    ];
    // The default guard: a 50 ms budget, a breaker that opens after 5 failures.
    const limiter = createLimiter({ store, limits, prefix: `lag-${process.pid}` });
    try {
      // Scripts loaded and the connection warm.
      expect((await limiter.peek({ tenant: 'warm', key: 'k' })).path).toBe('store');
      for (let round = 0; round < 3; round++) {
        // Redis answers what follows 30 ms later: within the budget.
        const slept = admin.call('DEBUG', 'SLEEP', '0.03');
        // Runs in this turn's check phase before the coalescer's flush: 15 ms of work (less than the
        // budget: the decisions are not overdue when they leave), which lets the keeper's interval fall
        // due, and queues the 120 ms block for the next turn's check phase, ahead of the keeper's tick.
        let blocked = false;
        setImmediate(() => {
          busyWait(15);
          setImmediate(() => {
            busyWait(BLOCK_MS);
            blocked = true;
          });
        });
        const pending = Array.from({ length: N }, (_, i) =>
          limiter.limit({ tenant: `t${i % 8}`, key: `k${i}` }),
        );
        const decisions = await Promise.all(pending);
        const paths = decisions.map((d) => d.path);
        expect(
          paths.filter((p) => p !== 'store'),
          `round ${round}: ${JSON.stringify(decisions.find((d) => d.path !== 'store')?.storeError)}`,
        ).toEqual([]);
        expect(decisions.every((d) => d.allowed)).toBe(true);
        await slept;
        // The next round starts after this one's block (which would otherwise stall its batch's turn).
        while (!blocked) await sleep(5);
        await sleep(20);
      }
      const breaker = limiter.guard?.breaker;
      expect(breaker?.state).toBe('closed');
      expect(breaker?.opened).toBe(0);
      expect(breaker?.consecutiveFailures).toBe(0);
    } finally {
      await limiter.close();
    }
  }, 30_000);
});
