/**
 * Saturation on a healthy Redis (issue 11: a busy application is not a failed store). A real HTTP server
 * decides every request with a Limiter on a RedisStore with the default guard (50 ms budget, breaker after
 * 5 failures), under many connections from many tenants, while a CPU-bound task blocks the event loop
 * for 80-150 ms at random, with hundreds of decisions in flight (a burst of direct decisions just before
 * each block, besides the HTTP requests). Redis answers every call in well under
 * a millisecond: the replies sit unread behind the blocked loop, which is the application's lag, not
 * the store's. Not one decision may be `store_unavailable` (fail-closed), and the breaker never opens.
 *
 * The counter-test (a real store stall with a responsive loop is still a timeout and the failure mode)
 * is latency.test.ts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLimiter, type Decision, type LimitDefinition, RedisStore } from '../../src/index.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';
import { report, sleep, watchUnhandledRejections } from './support.js';

const CONNECTIONS = 384;
const TENANTS = 64;
const LOAD_MS = 4000;
const LIMITS: LimitDefinition[] = [
  { name: 'second', algorithm: 'sliding-window', limit: 1_000_000, window: '1s' },
  { name: 'minute', algorithm: 'fixed-window', limit: 10_000_000, window: '1m' },
];

function busyWait(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // the application's CPU-bound work: the event loop is blocked
  }
}

describe('saturation on a healthy Redis', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it(`${CONNECTIONS} connections, ${TENANTS} tenants, event-loop blocks of 80-150 ms: no store_unavailable, the breaker never opens`, async () => {
    const rejections = watchUnhandledRejections();
    const store = new RedisStore({ url: server.url });
    await store.ready();
    // Sluice's defaults: guard on, 50 ms budget, failure mode closed.
    const limiter = createLimiter({ store, limits: LIMITS, prefix: `sat-${process.pid}` });
    const paths: Record<string, number> = {};
    const errors: Record<string, number> = {};
    let inFlight = 0;
    const count = (d: Decision): void => {
      paths[d.path] = (paths[d.path] ?? 0) + 1;
      if (d.storeError) errors[d.storeError.message] = (errors[d.storeError.message] ?? 0) + 1; // message: says whether it was sent
    };
    const app = http.createServer((req, res) => {
      const tenant = String(req.headers['x-tenant'] ?? 'none');
      inFlight++;
      limiter.limit({ tenant, key: 'api' }).then(
        (d: Decision) => {
          inFlight--;
          count(d);
          res.statusCode = d.path === 'fail-closed' ? 503 : d.allowed ? 200 : 429;
          res.end(d.path);
        },
        (error: unknown) => {
          inFlight--;
          paths.thrown = (paths.thrown ?? 0) + 1;
          res.statusCode = 500;
          res.end(String(error));
        },
      );
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const port = (app.address() as AddressInfo).port;
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    const statuses: Record<string, number> = {};
    let running = true;
    const client = async (n: number): Promise<void> => {
      const tenant = `tenant-${n % TENANTS}`;
      while (running) {
        await new Promise<void>((resolve) => {
          const req = http.get(
            { host: '127.0.0.1', port, path: '/', agent, headers: { 'x-tenant': tenant } },
            (res) => {
              statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
              res.resume();
              res.on('end', resolve);
              res.on('error', () => resolve());
            },
          );
          req.on('error', () => {
            statuses.error = (statuses.error ?? 0) + 1;
            resolve();
          });
        });
      }
    };
    // The CPU-bound load: blocks of 80-150 ms at random, 20-200 ms apart, each right after a burst of
    // BURST decisions of other tenants (a background job's), so that hundreds are in flight. The burst
    // leaves before the block (another store operation first sends the decisions queued before it), and
    // the replies arrive during the block. (A decision still queued when its turn stalls past the budget
    // is the caller's lateness: it is not sent, see overdue-decisions-not-sent.test.ts.)
    const BURST = 200;
    const blocks: number[] = [];
    let blocker: NodeJS.Timeout | undefined;
    const scheduleBlock = (): void => {
      blocker = setTimeout(
        () => {
          for (let i = 0; i < BURST; i++) {
            inFlight++;
            limiter.limit({ tenant: `job-${i % TENANTS}`, key: `item-${i}` }).then(
              (d) => {
                inFlight--;
                count(d);
              },
              () => {
                inFlight--;
                paths.thrown = (paths.thrown ?? 0) + 1;
              },
            );
          }
          void store.readDocument(`sat-${process.pid}:nothing`).catch(() => {});
          blocks.push(inFlight);
          busyWait(80 + Math.floor(Math.random() * 71));
          if (running) scheduleBlock();
        },
        20 + Math.floor(Math.random() * 181),
      );
    };
    try {
      const warm = await limiter.peek({ tenant: 'warm', key: 'api' });
      expect(warm.path).toBe('store');
      const clients = Array.from({ length: CONNECTIONS }, (_, n) => client(n));
      await sleep(300);
      scheduleBlock();
      await sleep(LOAD_MS);
      running = false;
      clearTimeout(blocker);
      await Promise.all(clients);
      while (inFlight > 0) await sleep(10);
      const breaker = limiter.guard?.breaker;
      const decisions = Object.values(paths).reduce((a, b) => a + b, 0);
      report(
        `saturation: ${decisions} decisions over ${CONNECTIONS} connections, ${blocks.length} blocks of 80-150 ms ` +
          `with ${Math.min(...blocks)}-${Math.max(...blocks)} decisions in flight; paths ${JSON.stringify(paths)}, ` +
          `store errors ${JSON.stringify(errors)}, HTTP ${JSON.stringify(statuses)}; breaker opened ${breaker?.opened} time(s)`,
      );
      expect(rejections.seen, 'unhandled rejections').toEqual([]);
      expect(blocks.length).toBeGreaterThan(5);
      // The blocks did hit hundreds of decisions in flight.
      expect(Math.min(...blocks)).toBeGreaterThanOrEqual(BURST);
      expect(decisions).toBeGreaterThan(1000);
      expect(paths['fail-closed'] ?? 0, `store errors ${JSON.stringify(errors)}`).toBe(0);
      expect(errors, 'store errors').toEqual({});
      expect(paths.store).toBe(decisions);
      expect(statuses['503'] ?? 0).toBe(0);
      expect(breaker?.opened).toBe(0);
      expect(breaker?.state).toBe('closed');
    } finally {
      running = false;
      clearTimeout(blocker);
      rejections.dispose();
      agent.destroy();
      await new Promise((resolve) => app.close(resolve));
      await limiter.close();
    }
  }, 60_000);
});
