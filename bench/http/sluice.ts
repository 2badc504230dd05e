/**
 * The Sluice limiter every `sluice` server uses: one tenant policy, two windows, on the bench's Redis,
 * with Sluice's default store-call budget (50 ms) and breaker: the budget measures the store, not the
 * saturated server's event-loop lag (see README, When the store fails), so a healthy Redis answers
 * every request.
 */
import { PolicyLimiter } from '../../dist/index.js';
import { HUGE, KEY_ROOT } from './config.js';

export function createSluiceLimiter(redisUrl: string): Promise<PolicyLimiter> {
  return PolicyLimiter.create({
    config: {
      prefix: `${KEY_ROOT}-sluice`,
      store: { type: 'redis', url: redisUrl },
      tierPolicy: { enabled: false },
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
