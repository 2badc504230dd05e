import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { createLimiter } from '../../src/limiter.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { RedisStore } from '../../src/stores/redis/redis-store.js';

/**
 * Issue 12: unknown or misspelt options were silently ignored (`createLimiter({ limit: [...] })`,
 * `{ failuremode: 'open' }` left the limiter failing closed with nothing said). Every options object
 * is validated as strictly as the configuration document: the error names the key, a likely meant
 * one, and the accepted names.
 */
describe('regression: unknown option keys are errors naming them', () => {
  const refused = (make: () => unknown): ValidationError => {
    try {
      make();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      return error as ValidationError;
    }
    throw new Error('accepted');
  };

  it('Limiter options, localShare', () => {
    const limits = [{ limit: 5, window: '1m' }];
    const plural = refused(() => createLimiter({ limit: limits } as never));
    expect([plural.field, plural.message]).toEqual([
      'limit',
      expect.stringMatching(/did you mean "limits"\?.*expected one of limits, store, prefix/),
    ]);
    const cased = refused(() => createLimiter({ limits, failuremode: 'open' } as never));
    expect([cased.field, cased.message]).toEqual([
      'failuremode',
      expect.stringMatching(/did you mean "failureMode"/),
    ]);
    expect(refused(() => createLimiter({ limits, localShare: { instance: 3 } } as never)).field).toBe(
      'localShare.instance',
    );
  });

  it('store options', () => {
    expect(refused(() => new MemoryStore({ maxkeys: 10 } as never)).field).toBe('memory.maxkeys');
    expect(refused(() => new MemoryStore({ clock: 5 } as never)).field).toBe('memory.clock');
    expect(
      refused(() => new RedisStore({ url: 'redis://127.0.0.1:1', colaesce: false } as never)).field,
    ).toBe('redis.colaesce');
  });
});
