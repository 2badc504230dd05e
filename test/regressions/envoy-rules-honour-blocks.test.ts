/**
 * Regression: a domain of the Envoy configuration (envoyproxy/ratelimit's YAML) was decided over its
 * rules' counters alone, and blocks were never read for its users or IPs. An operator who blocked an
 * abusive IP or user (admin API, `sluice block`, PolicyLimiter.block) stopped it on the decision API
 * and on policy-mapped domains, but Envoy's calls for that IP kept being answered OK. Now the user and
 * IP entries of a request (through the descriptor mapping) are its block markers: with its counters,
 * or read alone where no enforced rule matches.
 */
import { describe, expect, it } from 'vitest';
import { Limiter } from '../../src/limiter.js';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { createRateLimitService, loadEnvoyConfig } from '../../src/server/envoy/index.js';
import type { RlsResponse } from '../../src/server/envoy/types.js';
import { FIXTURES } from '../server/envoy-support.js';
import { type Backend, freshPrefix, useBackends } from './support.js';

const DOMAIN = 'edge_proxy_per_ip'; // remote_address: 10/s; 50.0.0.5: 0
const rules = loadEnvoyConfig(FIXTURES);

async function serviceOn(backend: Backend) {
  const prefix = freshPrefix();
  const clock = backend.clock ? { clock: backend.clock.now } : {};
  const policies = await PolicyLimiter.create({
    config: { prefix, tierPolicy: { enabled: false }, policies: [], failure: { budget: '5s' } },
    store: backend.store,
    ...clock,
  });
  const limiter = new Limiter({ store: policies.store, prefix, ...clock });
  const service = createRateLimitService({ limiter, policies, envoyConfig: rules, ...clock });
  const ask = (entries: Array<{ key: string; value: string }>): Promise<RlsResponse> =>
    service.decide({ domain: DOMAIN, descriptors: [{ entries }] });
  return { policies, limiter, service, ask };
}

const ip = (value: string) => [{ key: 'remote_address', value }];

describe("Envoy configuration domains honour operators' blocks", () => {
  const backends = useBackends();

  for (const name of ['memory', 'redis'] as const) {
    it(`a blocked IP is OVER_LIMIT on its rule, consumes nothing, and is OK once unblocked (${name})`, async () => {
      const backend = name === 'memory' ? backends.memory() : backends.redis();
      const { policies, limiter, service, ask } = await serviceOn(backend);
      try {
        expect((await ask(ip('1.2.3.4'))).statuses[0]?.limitRemaining).toBe(9);
        await policies.block({ tenant: DOMAIN, ip: '1.2.3.4' }, '10m');
        const blocked = await ask(ip('1.2.3.4'));
        expect(blocked.overallCode).toBe('OVER_LIMIT');
        expect(blocked.statuses).toHaveLength(1);
        const status = blocked.statuses[0];
        expect([status?.code, status?.limitRemaining, status?.currentLimit]).toEqual([
          'OVER_LIMIT',
          0,
          { name: `${DOMAIN}.remote_address`, requestsPerUnit: 10, unit: 'SECOND' },
        ]);
        expect(status?.durationUntilResetMs).toBeGreaterThan(590_000);
        expect(status?.durationUntilResetMs).toBeLessThanOrEqual(600_000);
        expect(blocked.responseHeadersToAdd).toContainEqual({ key: 'retry-after', value: '600' });
        // A descriptor no rule matches, beside it, is over its limit too: the whole request is blocked.
        const mixed = await service.decide({
          domain: DOMAIN,
          descriptors: [{ entries: ip('1.2.3.4') }, { entries: [{ key: 'database', value: 'users' }] }],
        });
        expect(mixed.statuses.map((s) => [s.code, s.limitRemaining, s.currentLimit?.name])).toEqual([
          ['OVER_LIMIT', 0, `${DOMAIN}.remote_address`],
          ['OVER_LIMIT', 0, undefined],
        ]);
        // Another IP is not blocked, and the blocked one's refusals consumed none of its quota.
        expect((await ask(ip('5.6.7.8'))).overallCode).toBe('OK');
        await policies.unblock({ tenant: DOMAIN, ip: '1.2.3.4' });
        expect((await ask(ip('1.2.3.4'))).statuses[0]?.limitRemaining).toBe(8);
      } finally {
        await limiter.close();
        await policies.close();
      }
    });
  }

  it('a blocked user is refused where no rule matches its descriptors (the blocks read alone)', async () => {
    const { policies, limiter, ask } = await serviceOn(backends.memory());
    try {
      const mallory = [{ key: 'user_id', value: 'mallory' }];
      const before = await ask(mallory);
      expect([before.overallCode, before.statuses]).toEqual(['OK', [{ code: 'OK', limitRemaining: 0 }]]);
      await policies.block({ tenant: DOMAIN, user: 'mallory' }, '1m');
      const blocked = await ask(mallory);
      expect(blocked.overallCode).toBe('OVER_LIMIT');
      expect(blocked.statuses).toEqual([
        { code: 'OVER_LIMIT', limitRemaining: 0, durationUntilResetMs: 60_000 },
      ]);
      expect(blocked.responseHeadersToAdd).toEqual([{ key: 'retry-after', value: '60' }]);
      expect((await ask([{ key: 'user_id', value: 'alice' }])).overallCode).toBe('OK');
    } finally {
      await limiter.close();
      await policies.close();
    }
  });
});
