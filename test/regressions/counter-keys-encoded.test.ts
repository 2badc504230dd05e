/**
 * Regression (#11.5): `countBy: role` joined roles with `,` (`["admin,ops"]` and `["admin","ops"]`
 * shared a counter), and endpoint and identity were joined with `|` the same way (endpoint `/a|u=b`
 * of user `c` and endpoint `/a` of user `b|u=c` shared one). Every part of a composite key is now
 * percent-encoded, and the role list carries its length.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { ADAPTERS, memoryLimiter, type Served, serveWith } from './http-adapters.js';

const BY_ROLE = { name: 'by-role', scope: 'global', countBy: 'role', limits: [{ limit: 2, window: '1m' }] };

describe.each(ADAPTERS)('%s: role lists never share a counter', (name) => {
  const open: Array<Served | PolicyLimiter> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  it('["admin,ops"] spends its 2; ["admin","ops"] still has its own 2; [] and [""] differ too', async () => {
    const limiter = await memoryLimiter({ policies: [BY_ROLE] });
    const app = await serveWith(name, { limiter });
    open.push(limiter, app);
    const as = async (roles: string[]) =>
      (await app.request('/items', { authorization: 'Bearer acme', 'x-roles': JSON.stringify(roles) }))
        .status;
    expect([await as(['admin,ops']), await as(['admin,ops']), await as(['admin,ops'])]).toEqual([
      200, 200, 429,
    ]);
    expect([await as(['ops', 'admin']), await as(['admin', 'ops']), await as(['admin', 'ops'])]).toEqual([
      200, 200, 429,
    ]);
    expect([await as([]), await as([]), await as([''])]).toEqual([200, 200, 200]);
  });
});

describe('endpoint and identity keys', () => {
  it('endpoint "/a|u=b" of user "c" and endpoint "/a" of user "b|u=c" count apart', async () => {
    const limiter = await memoryLimiter({
      policies: [{ name: 'per-route', scope: 'endpoint', limits: [{ limit: 1, window: '1m' }] }],
    });
    try {
      const first = await limiter.check({ tenant: 'acme', endpoint: '/a|u=b', user: 'c' });
      const second = await limiter.check({ tenant: 'acme', endpoint: '/a', user: 'b|u=c' });
      expect([first.allowed, second.allowed]).toEqual([true, true]);
      expect([first.policies[0]?.key, second.policies[0]?.key]).toEqual(['e=/a%7Cu=b|u=c', 'e=/a|u=b%7Cu=c']);
      const again = await limiter.check({ tenant: 'acme', endpoint: '/a', user: 'b|u=c' });
      expect(again.allowed).toBe(false);
    } finally {
      await limiter.close();
    }
  });
});
