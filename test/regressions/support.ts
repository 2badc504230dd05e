import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';
import type { Store } from '../../src/stores/store.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';

/** A real epoch instant (2027): floating-point error at 1.8e12 ms is what tests at clock 0 miss. */
export const EPOCH = 1_800_000_000_123;

/** A store to run a regression on, with what the test needs to drive or inspect it. */
export interface Backend {
  readonly name: 'memory' | 'redis';
  readonly store: Store;
  /** Memory: the store's clock (tests drive it); Redis: undefined (the server's TIME). */
  readonly clock?: ManualClock;
  /** Redis: a client of the test's own server, for inspecting keys. */
  readonly admin?: Redis;
}

/**
 * Starts one redis-server for the file, and hands each test fresh backends: a memory store on a
 * ManualClock at an epoch instant, and a RedisStore on that server (a new prefix per test keeps them
 * apart). Register at the top of a describe block.
 */
export function useBackends(): {
  each(): Backend[];
  redis(): Backend;
  memory(at?: number): Backend;
} {
  let server: RedisServer;
  let admin: Redis;
  let shared: RedisStore | undefined;
  const stores: Store[] = [];
  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
    shared = new RedisStore({ url: server.url });
    stores.push(shared);
    await shared.ready();
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await admin?.quit();
    await server?.stop();
  });
  const memory = (at = EPOCH): Backend => {
    const clock = new ManualClock(at);
    return { name: 'memory', store: new MemoryStore({ clock: clock.now }), clock };
  };
  // Decisions made before a store's first connection fail at once (they are never queued to be
  // counted later): the file's Redis store is connected in beforeAll, and shared by its tests (each
  // test uses its own prefix).
  // A limiter's close() closes its store: each test gets a view of the shared store whose close() is a
  // no-op, so that closing one test's limiter leaves the connection to the others.
  const redis = (): Backend => {
    const view = Object.create(shared as RedisStore, { close: { value: async () => {} } }) as RedisStore;
    return { name: 'redis', store: view, admin };
  };
  return { each: () => [memory(), redis()], redis, memory };
}

let prefixes = 0;
/** A prefix no other test uses (Redis state of one file's tests lives on one server). */
export function freshPrefix(): string {
  prefixes += 1;
  return `reg${process.pid}x${prefixes}`;
}

/** Entries of a log state (sliding log, concurrency) in Redis: its members but the total's sentinel. */
export async function logEntries(admin: Redis, key: string): Promise<number> {
  const members = await admin.zrange(key, 0, -1);
  return members.filter((m) => !m.startsWith('#')).length;
}

/** A redis-server of the file's own, an admin client of it and a connected RedisStore on it. */
export interface RedisFixture {
  readonly server: RedisServer;
  readonly admin: Redis;
  readonly store: RedisStore;
}

/**
 * Starts a redis-server (with `extraArgs`) in beforeAll, with an admin client and a connected store,
 * and stops them in afterAll. Its fields are set once the hooks have run: read them in tests or later
 * hooks, not at registration.
 */
export function useRedis(extraArgs: string[] = []): RedisFixture {
  const fixture = {} as { server: RedisServer; admin: Redis; store: RedisStore };
  beforeAll(async () => {
    fixture.server = await startRedis({ extraArgs });
    fixture.admin = new Redis(fixture.server.url, { maxRetriesPerRequest: 1 });
    await fixture.admin.ping();
    fixture.store = new RedisStore({ url: fixture.server.url });
    await fixture.store.ready();
  });
  afterAll(async () => {
    await fixture.store?.close();
    fixture.admin?.disconnect();
    await fixture.server?.stop();
  });
  return fixture;
}
