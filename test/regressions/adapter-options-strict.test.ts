/**
 * #12: a misspelt adapter option (`tenantHeader`, every request then 400) was silently ignored, and a
 * plain Limiter passed as `limiter` answered every request 503 with nothing logged. Every adapter
 * validates its options at setup: unknown keys and wrong types are errors naming the field and the
 * accepted names; a plain Limiter is refused with what to pass instead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { Limiter } from '../../src/limiter.js';
import type { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import { ADAPTERS, memoryLimiter, setUp } from './http-adapters.js';

describe.each(ADAPTERS)('%s: options validated at setup', (name) => {
  let limiter: PolicyLimiter;
  beforeAll(async () => {
    limiter = await memoryLimiter({
      policies: [{ name: 'ip', scope: 'ip', limits: [{ limit: 3, window: '1m' }] }],
    });
  });
  afterAll(async () => {
    await limiter.close();
  });

  it('a misspelt key is an error naming it, the likely one, and the accepted names', async () => {
    const error = await setUp(name, { limiter, tenantHeader: ['x-tenant-id'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(`sluice(${name}).tenantHeader`);
    expect((error as Error).message).toContain('did you mean "tenantHeaders"?');
    expect((error as Error).message).toContain('expected one of limiter, limit, window');
  });

  it('an unknown key is an error', async () => {
    await expect(setUp(name, { limiter, windowMs: 60_000 })).rejects.toThrow(/windowMs: unknown option/);
  });

  it.each([
    ['trustProxy', 'yes', /trustProxy: must be a boolean, a hop count/],
    ['tenantHeaders', 'x-tenant-id', /tenantHeaders: must be an array of header names/],
    ['tenant', 'acme', /tenant: must be a function/],
    ['ipv6Prefix', 200, /ipv6Prefix: must be an integer from 0 to 128/],
    ['body', 'xml', /body: must be 'json', 'problem' or a function/],
    ['headers', { legacy: 'no' }, /headers\.legacy: must be a boolean/],
    ['headers', { ieft: false }, /headers\.ieft: unknown option/],
    ['missingTenant', { tenantId: 'x' }, /missingTenant\.tenantId: unknown option/],
    ['missingTenant', 'allow', /missingTenant: must be 'reject' or \{ tenant: string \}/],
  ])('%s: %j is refused', async (key, value, message) => {
    await expect(setUp(name, { limiter, [key]: value })).rejects.toThrow(message);
  });

  it('a wrong type of the one-line start is refused', async () => {
    await expect(setUp(name, { limit: '3' })).rejects.toThrow(/limit: must be a positive integer/);
    await expect(setUp(name, { limit: 3, window: '1 minute' })).rejects.toThrow(/window/);
    await expect(setUp(name, { limits: [] })).rejects.toThrow(/limits: must be a non-empty array/);
    await expect(setUp(name, { limiter, limit: 3 })).rejects.toThrow(/limit: cannot be given with limiter/);
  });

  it('no limiter at all says what to pass', async () => {
    await expect(setUp(name, { trustProxy: 1 })).rejects.toThrow(
      /no limiter: pass `limit` \(and `window`\) or `limits` for the one-line start/,
    );
  });

  it('a plain Limiter is refused: pass a PolicyLimiter or use the one-line start', async () => {
    const plain = new Limiter({ store: new MemoryStore(), limits: [{ limit: 3, window: '1m' }] });
    try {
      const error = await setUp(name, { limiter: plain }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toMatch(/\.limiter$/);
      expect((error as Error).message).toContain('is a plain Limiter');
      expect((error as Error).message).toContain(
        'pass a PolicyLimiter (PolicyLimiter.create) or use the one-line start',
      );
    } finally {
      await plain.close();
    }
  });

  it('the accepted options are accepted', async () => {
    await expect(
      setUp(name, {
        limiter,
        tenant: () => undefined,
        tenantHeaders: ['x-tenant-id'],
        missingTenant: { tenant: 'anonymous' },
        trustProxy: ['10.0.0.0/8'],
        ipv6Prefix: 64,
        headers: { legacy: true, ietf: false },
        body: 'problem',
        onWarning: () => undefined,
      }),
    ).resolves.toBeUndefined();
  });
});
