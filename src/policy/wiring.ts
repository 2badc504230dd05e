import type { Clock } from '../core/clock.js';
import { parseDuration } from '../core/duration.js';
import { Limiter } from '../limiter.js';
import { MemoryStore } from '../stores/memory/memory-store.js';
import { RedisStore } from '../stores/redis/redis-store.js';
import type { Store } from '../stores/store.js';
import type { SluiceConfig } from './config.js';
import type { AuditLogger } from './policy-options.js';

/*
 * What a configuration asks for: its store, and the limiter deciding for its policies.
 */

/** The limiter deciding for the policies: guarded (budget, breaker) unless the store is in-process. */
export function engineFor(
  config: SluiceConfig,
  store: Store,
  clock: Clock | undefined,
  logger: AuditLogger | undefined,
): Limiter {
  const guarded = store.backend !== 'memory';
  return new Limiter({
    store,
    prefix: config.prefix,
    // The in-process store cannot be slow or down; any other gets the budget and the breaker.
    guard:
      store.backend === 'memory'
        ? false
        : {
            budgetMs: config.failure.budgetMs,
            breaker: {
              threshold: config.failure.circuitThreshold,
              resetTimeoutMs: config.failure.circuitResetTimeoutMs,
            },
            ...(clock ? { clock } : {}),
          },
    localShare: config.failure.localShare,
    ...(clock ? { clock } : {}),
    // Outages are measured by the guard: the unguarded in-process store has none to escalate.
    ...(guarded && config.failure.escalate
      ? { escalate: { after: config.failure.escalate.afterMs, to: config.failure.escalate.to } }
      : {}),
    ...(logger ? { logger } : {}),
  });
}

export function storeFromConfig(config: SluiceConfig): Store {
  const store = config.store;
  if (store.type === 'memory') return new MemoryStore(store.maxKeys ? { maxKeys: store.maxKeys } : {});
  // Timeouts of the client itself (connecting, and a command's reply: a backstop behind the budget).
  const timeouts = {
    ...(store.connectTimeout === undefined
      ? {}
      : { connectTimeout: parseDuration(store.connectTimeout, 'store.connectTimeout') }),
    ...(store.commandTimeout === undefined
      ? {}
      : { commandTimeout: parseDuration(store.commandTimeout, 'store.commandTimeout') }),
  };
  const common = {
    ...(store.coalesce === undefined ? {} : { coalesce: store.coalesce }),
    ...(store.maxBatch === undefined ? {} : { maxBatch: store.maxBatch }),
  };
  if (store.url) return new RedisStore({ url: store.url, redisOptions: timeouts, ...common });
  if (store.cluster) {
    return new RedisStore({
      cluster: { nodes: store.cluster.nodes, options: { redisOptions: timeouts } },
      ...common,
    });
  }
  const sentinel = store.sentinel as NonNullable<typeof store.sentinel>;
  return new RedisStore({
    ...common,
    redisOptions: timeouts,
    sentinel: {
      name: sentinel.name,
      sentinels: sentinel.sentinels.map((s) => {
        const [host, port] = s.split(':');
        return { host: host as string, port: Number(port ?? 26379) };
      }),
    },
  });
}
