/**
 * The Sluice limiter every `sluice` server uses: one tenant policy, two windows, on the bench's Redis.
 *
 * The store-call budget is BENCH_HTTP_SLUICE_BUDGET (default 1s; `default` keeps Sluice's 50 ms). With
 * 50 ms, a saturated server on a small machine misses the budget whenever its event loop stalls that
 * long (the budget timer runs before the Redis reply is read): the circuit opens and, failure mode
 * `closed`, requests are answered 503 — which is not the admitting path this bench measures.
 */
import { PolicyLimiter } from '../../dist/index.js';
import { HUGE, KEY_ROOT } from './config.js';

export const DEFAULT_SLUICE_BUDGET = '1s';

/** The failure budget the servers use: a duration string, or 'default' (Sluice's own, 50 ms). */
export function sluiceBudget(): string {
  return process.env['BENCH_HTTP_SLUICE_BUDGET'] || DEFAULT_SLUICE_BUDGET;
}

export function createSluiceLimiter(redisUrl: string): Promise<PolicyLimiter> {
  const budget = sluiceBudget();
  return PolicyLimiter.create({
    config: {
      prefix: `${KEY_ROOT}-sluice`,
      store: { type: 'redis', url: redisUrl },
      tierPolicy: { enabled: false },
      ...(budget === 'default' ? {} : { failure: { budget } }),
      policies: [
        {
          name: 'tenant',
          scope: 'tenant',
          limits: [
            { algorithm: 'sliding-window', limit: HUGE, window: '1s' },
            { algorithm: 'fixed-window', limit: HUGE, window: '1m' },
          ],
        },
      ],
    },
  });
}
