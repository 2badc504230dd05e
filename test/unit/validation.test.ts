import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { parseDuration } from '../../src/core/duration.js';
import { ValidationError } from '../../src/core/errors.js';
import { encodeIdentifier } from '../../src/core/identifiers.js';
import type { LimitDefinition } from '../../src/core/types.js';
import { createLimiter } from '../../src/limiter.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';

/** Runs `fn` and returns the ValidationError it throws (or rejects with); fails otherwise. */
async function validationError(fn: () => unknown): Promise<ValidationError> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

const makeLimiter = (limits: unknown[]) =>
  createLimiter({
    limits: limits as LimitDefinition[],
    store: new MemoryStore({ clock: new ManualClock().now }),
  });

describe('bad input is a clear error naming the field, and consumes nothing', () => {
  it.each([
    [-1, 'negative'],
    [1.5, 'fractional'],
    [Number.NaN, 'NaN'],
    ['1', 'a string'],
    [1e10, 'too large'],
  ] as Array<[unknown, string]>)('cost %s (%s)', async (cost, _why) => {
    const l = makeLimiter([{ limit: 3, window: '1s' }]);
    const e = await validationError(() => l.limit({ tenant: 't', key: 'k', cost: cost as number }));
    expect([e.code, e.field]).toEqual(['ERR_SLUICE_INVALID_COST', 'cost']);
    expect(e.message).toMatch(/^cost: .* must be a whole number from 0/);
    expect((await l.peek({ tenant: 't', key: 'k' })).remaining).toBe(3);
  });

  it.each([[0], [-5], [2.5], ['10'], [undefined], [2e9]])('limit %s', async (limit) => {
    const e = await validationError(() =>
      makeLimiter([
        { limit: 1, window: '1s' },
        { limit, window: '1s' },
      ]),
    );
    expect([e.code, e.field]).toEqual(['ERR_SLUICE_INVALID_LIMIT', 'limits[1].limit']);
  });

  it('unknown algorithm', async () => {
    const e = await validationError(() => makeLimiter([{ limit: 1, window: '1s', algorithm: 'leaky' }]));
    expect([e.code, e.field]).toEqual(['ERR_SLUICE_INVALID_ALGORITHM', 'limits[0].algorithm']);
    expect(e.message).toContain(
      '"leaky" is not one of fixed-window, sliding-window, sliding-log, token-bucket, concurrency',
    );
  });

  it.each([
    [''],
    ['10'],
    ['abc'],
    ['-1s'],
    ['1.5ms'],
    ['1x'],
    ['1 s'],
    [0],
    [-1000],
    [1.5],
    ['11000d'],
    [null],
  ])('window %j', async (window) => {
    const e = await validationError(() => makeLimiter([{ limit: 1, window }]));
    expect([e.code, e.field]).toEqual(['ERR_SLUICE_INVALID_DURATION', 'limits[0].window']);
  });

  it('unknown fields, such as a mistyped windowMS, are errors', async () => {
    const e = await validationError(() => makeLimiter([{ limit: 1, window: '1s', windowMS: 1000 }]));
    expect([e.code, e.field]).toEqual(['ERR_SLUICE_INVALID_OPTION', 'limits[0].windowMS']);
  });

  it('burst belongs to token buckets only', async () => {
    const e = await validationError(() => makeLimiter([{ limit: 1, window: '1s', burst: 5 }]));
    expect(e.field).toBe('limits[0].burst');
    const f = await validationError(() =>
      makeLimiter([{ limit: 1, window: '1s', algorithm: 'token-bucket', burst: 0 }]),
    );
    expect(f.field).toBe('limits[0].burst');
  });

  it('duplicate limit names, empty limit lists, bad scope and prefix', async () => {
    expect(
      (
        await validationError(() =>
          makeLimiter([
            { name: 'a', limit: 1, window: '1s' },
            { name: 'a', limit: 2, window: '1m' },
          ]),
        )
      ).field,
    ).toBe('limits[1].name');
    expect((await validationError(() => makeLimiter([]))).field).toBe('limits');
    expect(
      (await validationError(() => makeLimiter([{ limit: 1, window: '1s', scope: 'user' }]))).field,
    ).toBe('limits[0].scope');
    expect(
      (await validationError(() => createLimiter({ limits: [{ limit: 1, window: '1s' }], prefix: 'a{b}' })))
        .field,
    ).toBe('prefix');
  });

  it.each([
    ['', 'must not be empty'],
    ['x'.repeat(257), 'longer than 256 bytes'],
    ['é'.repeat(129), 'longer than 256 bytes'],
    [42, 'must be a string'],
    ['\uD800', 'lone surrogate'],
  ])('tenant %j', async (tenant, message) => {
    const l = makeLimiter([{ limit: 1, window: '1s' }]);
    const e = await validationError(() => l.limit({ tenant: tenant as string, key: 'k' }));
    expect([e.code, e.field]).toEqual(['ERR_SLUICE_INVALID_IDENTIFIER', 'tenant']);
    expect(e.message).toContain(message);
  });

  it('a per-key limit without a key is an error, not a shared bucket', async () => {
    const l = makeLimiter([{ limit: 1, window: '1s' }]);
    const e = await validationError(() => l.limit({ tenant: 't' }));
    expect(e.field).toBe('key');
    expect((await validationError(() => l.limit({ tenant: 't', key: '' }))).field).toBe('key');
  });

  it('block durations, refunds and leases are validated too', async () => {
    const l = makeLimiter([{ limit: 1, window: '1s', algorithm: 'concurrency' }]);
    expect((await validationError(() => l.block({ tenant: 't', key: 'k' }, 'soon'))).field).toBe('duration');
    const decision = await l.limit({ tenant: 't', key: 'k' });
    expect((await validationError(() => l.refund(decision, -2))).field).toBe('units');
    expect((await validationError(() => l.refund({ tenant: 't' } as never))).field).toBe('decision');
    const lease = decision.lease!;
    expect((await validationError(() => l.release({ ...lease, id: 'a:b' }))).field).toBe('lease');
    expect((await validationError(() => l.release({ ...lease, slots: [{ limit: 'x:sl100' }] }))).field).toBe(
      'lease.slots[0].limit',
    );
    expect((await validationError(() => l.release({ ...lease, acquiredAt: 'now' as never }))).field).toBe(
      'lease.acquiredAt',
    );
    expect((await l.peek({ tenant: 't', key: 'k' })).remaining).toBe(0);
  });
});

describe('durations', () => {
  it.each([
    ['1500ms', 1500],
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1w', 604_800_000],
    ['1h30m', 5_400_000],
    ['0.5s', 500],
    [' 2S', 2000],
    [250, 250],
  ])('%j is %d ms', (text, ms) => {
    expect(parseDuration(text, 'window')).toBe(ms);
  });
});

describe('identifier encoding', () => {
  const tricky = ['a:b', 'a%3Ab', '{a}', 'a}b{', '*', 'a b', 'a\nb', 'ü', 'a/b', "a'b", '%', '~._-', 'A'];
  it('keeps safe characters and escapes everything that could break a key', () => {
    for (const value of tricky) {
      const encoded = encodeIdentifier(value, 'key');
      expect(encoded).toMatch(/^[A-Za-z0-9._~%-]+$/);
      expect(decodeURIComponent(encoded)).toBe(value);
    }
    expect(encodeIdentifier('user-42_x.y~z', 'key')).toBe('user-42_x.y~z');
  });

  it('never maps two identifiers to one key segment', () => {
    const encoded = tricky.map((v) => encodeIdentifier(v, 'key'));
    expect(new Set(encoded).size).toBe(tricky.length);
  });
});
