/**
 * Regression (#12.3): seed 003's AURUM_API_RATE_LIMIT_TENANT_HEADERS=X-Tenant-ID,X-Aurum-Tenant had
 * nowhere to go. `tenantHeadersFromEnv(env)` turns it into adapter options to spread:
 * `sluice({ limiter, ...tenantHeadersFromEnv() })`, validated with errors naming the variable.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { tenantHeadersFromEnv } from '../../src/index.js';
import type { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { memoryLimiter, type Served, serveWith } from './http-adapters.js';

const SEED_003 = { AURUM_API_RATE_LIMIT_TENANT_HEADERS: 'X-Tenant-ID,X-Aurum-Tenant' };
const PER_TENANT = { name: 'per-tenant', scope: 'tenant', limits: [{ limit: 2, window: '1m' }] };

describe('AURUM_API_RATE_LIMIT_TENANT_HEADERS', () => {
  const open: Array<Served | PolicyLimiter> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  it('becomes tenantHeaders, in order (RATE_LIMIT_TENANT_HEADERS without the prefix); unset: nothing', () => {
    expect(tenantHeadersFromEnv(SEED_003)).toEqual({ tenantHeaders: ['X-Tenant-ID', 'X-Aurum-Tenant'] });
    expect(tenantHeadersFromEnv({ RATE_LIMIT_TENANT_HEADERS: ' X-Org , X-Tenant ' })).toEqual({
      tenantHeaders: ['X-Org', 'X-Tenant'],
    });
    expect(tenantHeadersFromEnv({ ...SEED_003, RATE_LIMIT_TENANT_HEADERS: 'X-Other' }).tenantHeaders).toEqual(
      ['X-Tenant-ID', 'X-Aurum-Tenant'],
    );
    expect(tenantHeadersFromEnv({})).toEqual({});
  });

  it('validated: errors name the variable and the bad name', () => {
    expect(() => tenantHeadersFromEnv({ AURUM_API_RATE_LIMIT_TENANT_HEADERS: 'X-Tenant ID' })).toThrow(
      'AURUM_API_RATE_LIMIT_TENANT_HEADERS: "X-Tenant ID" is not a header name',
    );
    expect(() => tenantHeadersFromEnv({ RATE_LIMIT_TENANT_HEADERS: 'X-Tenant,,X-Org' })).toThrow(
      /RATE_LIMIT_TENANT_HEADERS: "X-Tenant,,X-Org" has an empty header name/,
    );
    expect(() => tenantHeadersFromEnv({ AURUM_API_RATE_LIMIT_TENANT_HEADERS: '' })).toThrow(
      /AURUM_API_RATE_LIMIT_TENANT_HEADERS: "" has an empty header name/,
    );
    expect(() => tenantHeadersFromEnv({ AURUM_API_RATE_LIMIT_TENANT_HEADERS: 'X-Tenant,x-tenant' })).toThrow(
      'AURUM_API_RATE_LIMIT_TENANT_HEADERS: "x-tenant" is listed twice',
    );
  });

  it('express over real HTTP: the tenant is read from either header, the first one first', async () => {
    const limiter = await memoryLimiter({ policies: [PER_TENANT] });
    const app = await serveWith('express', {
      limiter,
      auth: false,
      options: { ...tenantHeadersFromEnv(SEED_003) },
    });
    open.push(limiter, app);
    const replies = [
      await app.request('/items', { 'x-tenant-id': 'acme' }),
      await app.request('/items', { 'x-aurum-tenant': 'acme' }),
      await app.request('/items', { 'x-aurum-tenant': 'acme' }),
      await app.request('/items', { 'x-tenant-id': 'globex', 'x-aurum-tenant': 'acme' }),
      await app.request('/items'),
    ];
    expect(
      replies.map((r) => [r.status, r.headers['x-ratelimit-tenant'], r.headers['x-ratelimit-remaining']]),
    ).toEqual([
      [200, 'acme', '1'],
      [200, 'acme', '0'],
      [429, 'acme', '0'],
      [200, 'globex', '1'],
      [400, undefined, undefined],
    ]);
    expect(app.runs).toBe(3);
  });
});
