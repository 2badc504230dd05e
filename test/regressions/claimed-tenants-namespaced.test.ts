/**
 * Regression (#11.4): with `tenantHeaders` next to `tenant()`, an unauthenticated client sending
 * `X-Tenant-ID: acme` drained acme's bucket, and acme's signed-in users got 429. A tenant a client
 * merely claims is now decided as `claimed/<value>`: its own counters, never the authenticated
 * tenant's.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CLAIMED_TENANT_PREFIX } from '../../src/http/core.js';
import type { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { ADAPTERS, memoryLimiter, type Served, serveWith } from './http-adapters.js';

const PER_TENANT = { name: 'per-tenant', scope: 'tenant', limits: [{ limit: 3, window: '1m' }] };

describe.each(ADAPTERS)('%s: claimed tenants never share the authenticated tenant counters', (name) => {
  const open: Array<Served | PolicyLimiter> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  it('5 unauthenticated requests claiming acme: 3 admitted in their own bucket; acme keeps all of its own', async () => {
    const limiter = await memoryLimiter({ policies: [PER_TENANT] });
    const app = await serveWith(name, { limiter, options: { tenantHeaders: ['X-Tenant-ID'] } });
    open.push(limiter, app);
    const claimed = [];
    for (let i = 0; i < 5; i++) claimed.push(await app.request('/items', { 'x-tenant-id': 'acme' }));
    expect(claimed.map((r) => r.status)).toEqual([200, 200, 200, 429, 429]);
    expect(claimed[0]?.headers['x-ratelimit-tenant']).toBe('claimed/acme');
    const signedIn = [];
    for (let i = 0; i < 4; i++)
      signedIn.push(await app.request('/items', { authorization: 'Bearer acme:u1' }));
    expect(signedIn.map((r) => r.status)).toEqual([200, 200, 200, 429]);
    expect(signedIn.map((r) => r.headers['x-ratelimit-remaining'])).toEqual(['2', '1', '0', '0']);
    expect(signedIn[0]?.headers['x-ratelimit-tenant']).toBe('acme');
  });

  it('an authenticated tenant id inside the claimed namespace is refused (503), never merged with claims', async () => {
    const limiter = await memoryLimiter({ policies: [PER_TENANT] });
    const errors: unknown[] = [];
    const app = await serveWith(name, {
      limiter,
      options: { tenantHeaders: ['X-Tenant-ID'], onError: (e) => errors.push(e) },
    });
    open.push(limiter, app);
    const reply = await app.request('/items', {
      authorization: `Bearer ${encodeURIComponent(`${CLAIMED_TENANT_PREFIX}acme`)}`,
    });
    expect(reply.status).toBe(503);
    expect(errors).toHaveLength(1);
    expect(app.runs).toBe(0);
  });

  it('without a tenant resolver the header is the tenant (a gateway set it): no namespace', async () => {
    const limiter = await memoryLimiter({ policies: [PER_TENANT] });
    const app = await serveWith(name, { limiter, auth: false, options: { tenantHeaders: ['X-Tenant-ID'] } });
    open.push(limiter, app);
    const reply = await app.request('/items', { 'x-tenant-id': 'acme' });
    expect([reply.status, reply.headers['x-ratelimit-tenant']]).toEqual([200, 'acme']);
  });
});
