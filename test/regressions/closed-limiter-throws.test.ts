import { describe, expect, it } from 'vitest';
import { SluiceError } from '../../src/core/errors.js';
import { createLimiter } from '../../src/limiter.js';
import { freshPrefix, useBackends } from './support.js';

/**
 * Issue 12: using a limiter after close() kept working on memory and answered fail-closed on Redis
 * ("Connection is closed."). Both now throw a clear ERR_SLUICE_CLOSED.
 */
describe('regression: a closed limiter says so', () => {
  const backends = useBackends();

  it('every call after close() throws ERR_SLUICE_CLOSED, on memory and on Redis', async () => {
    for (const { name, store } of backends.each()) {
      const l = createLimiter({
        store,
        guard: false,
        prefix: freshPrefix(),
        limits: [{ limit: 5, window: '1m' }],
      });
      const d = await l.limit({ tenant: 't', key: 'k' });
      await l.close();
      await l.close(); // twice is harmless
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['limit', () => l.limit({ tenant: 't', key: 'k' })],
        ['peek', () => l.peek({ tenant: 't', key: 'k' })],
        [
          'decide',
          () => l.decide({ tenant: 't', checks: [{ limit: { limit: 1, window: '1s' }, key: 'k' }] }),
        ],
        ['refund', () => l.refund(d)],
        ['reset', () => l.reset({ tenant: 't', key: 'k' })],
        ['resetTenant', () => l.resetTenant('t')],
        ['block', () => l.block({ tenant: 't' }, '1s')],
        ['unblock', () => l.unblock({ tenant: 't' })],
      ];
      for (const [call, run] of calls) {
        const error = await run().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, `${name} ${call}`).toBeInstanceOf(SluiceError);
        expect((error as SluiceError).code, `${name} ${call}`).toBe('ERR_SLUICE_CLOSED');
      }
    }
  });
});
