import { describe, expect, it } from 'vitest';
import { StoreError, ValidationError } from '../../src/core/errors.js';
import { createLimiter } from '../../src/limiter.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import type { Store } from '../../src/stores/store.js';

/**
 * Issue 11: the `local` failure mode's in-process store could not be configured, and when it was full
 * the decision said `path: 'local'` (quota headers sent as if counted) with the shared store's error,
 * hiding that the local store was full. Its bounds are now options, and a full local store answers a
 * closed failure that names ERR_SLUICE_STORE_FULL.
 */
function downStore(): Store {
  const fail = () => Promise.reject(new StoreError('shared', 'connection refused'));
  const memory = new MemoryStore();
  return {
    backend: 'shared',
    decide: fail,
    refund: fail,
    release: fail,
    deleteKeys: fail,
    resetTenant: fail,
    block: fail,
    unblock: fail,
    close: () => memory.close(),
    readDocument: fail,
    writeDocument: fail,
  };
}

describe('regression: the local fallback store is bounded, and says so when full', () => {
  it('localStore bounds apply, and a full local store is a closed failure naming the real cause', async () => {
    const l = createLimiter({
      store: downStore(),
      guard: false,
      failureMode: 'local',
      localStore: { maxKeys: 100, maxKeysPerTenant: 3 },
      limits: [{ limit: 5, window: '1m' }],
    });
    const paths: string[] = [];
    for (let i = 0; i < 5; i++) paths.push((await l.limit({ tenant: 't', key: `k${i}` })).path);
    expect(paths).toEqual(['local', 'local', 'local', 'fail-closed', 'fail-closed']);
    const full = await l.limit({ tenant: 't', key: 'k9' });
    expect([full.allowed, full.reason, full.path, full.backend]).toEqual([
      false,
      'store_unavailable',
      'fail-closed',
      'memory',
    ]);
    expect(full.storeError).toEqual({
      code: 'ERR_SLUICE_STORE_FULL',
      message:
        'local fallback memory store: tenant t full: 3 live keys (maxKeysPerTenant 3); other tenants are unaffected (shared store: ERR_SLUICE_STORE: shared store: connection refused)',
    });
    // A key already held is still decided locally; another tenant has its own room.
    const held = await l.limit({ tenant: 't', key: 'k0' });
    expect([held.allowed, held.path, held.remaining, held.storeError?.code]).toEqual([
      true,
      'local',
      3,
      'ERR_SLUICE_STORE',
    ]);
    expect((await l.limit({ tenant: 'u', key: 'k0' })).path).toBe('local');
    await l.close();
  });

  it('localStore is validated strictly: unknown fields and bad bounds name the field', () => {
    const field = (localStore: unknown) => {
      try {
        createLimiter({ limits: [{ limit: 1, window: '1s' }], localStore } as never);
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        return (error as ValidationError).field;
      }
      return 'accepted';
    };
    expect(field({ maxKeys: 10 })).toBe('accepted');
    expect(field({ maxKeys: 10, maxKeysPerTenant: 10 })).toBe('accepted');
    expect(field({ maxkeys: 10 })).toBe('localStore.maxkeys');
    expect(field({ clock: () => 0 })).toBe('localStore.clock');
    expect(field({ maxKeys: 0 })).toBe('localStore.maxKeys');
    expect(field({ maxKeys: '10' })).toBe('localStore.maxKeys');
    expect(field({ maxKeys: 10, maxKeysPerTenant: 11 })).toBe('localStore.maxKeysPerTenant');
    expect(field(5)).toBe('localStore');
    expect(field(null)).toBe('localStore');
  });
});
