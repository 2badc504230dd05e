import { describe, expect, it } from 'vitest';
import { Limiter, ManualClock, MemoryStore, type PolicyDefinition, PolicyLimiter } from '../../src/index.js';
import {
  createRateLimitService,
  handleEnvoyJson,
  loadEnvoyConfig,
  startGrpcServer,
} from '../../src/server/envoy/index.js';
import { EPOCH } from '../regressions/support.js';
import { d, envoyClient, FIXTURES, st } from './envoy-support.js';

const rules = loadEnvoyConfig(FIXTURES);

function configService() {
  const clock = new ManualClock(EPOCH);
  const limiter = new Limiter({ store: new MemoryStore({ clock: clock.now }) });
  return { service: createRateLimitService({ limiter, envoyConfig: rules, clock: clock.now }), clock };
}

describe("envoyproxy/ratelimit's POST /json", () => {
  it('answers the proto3 JSON RateLimitResponse: 200 while OK, 429 when OVER_LIMIT', async () => {
    const { service } = configService();
    const body = {
      domain: 'messaging',
      hitsAddend: 2,
      descriptors: [
        {
          entries: [
            { key: 'message_type', value: 'marketing' },
            { key: 'to_number', value: '2061111111' },
          ],
        },
      ],
    };
    const ok = await handleEnvoyJson(service, JSON.stringify(body));
    const untilDay = 86_400_000 - (EPOCH % 86_400_000);
    expect(ok).toEqual({
      statusCode: 200,
      contentType: 'application/json',
      body: {
        overallCode: 'OK',
        statuses: [
          {
            code: 'OK',
            currentLimit: {
              name: 'messaging.message_type_marketing.to_number',
              requestsPerUnit: 5,
              unit: 'DAY',
            },
            limitRemaining: 3,
            durationUntilReset: `${Math.floor(untilDay / 1000)}.${String(untilDay % 1000).padStart(3, '0')}s`,
          },
        ],
        responseHeadersToAdd: [
          { key: 'ratelimit-policy', value: '"messaging.message_type_marketing.to_number";q=5;w=86400' },
          {
            key: 'ratelimit',
            value: `"messaging.message_type_marketing.to_number";r=3;t=${Math.ceil(untilDay / 1000)}`,
          },
        ],
      },
    });
    await handleEnvoyJson(service, { ...body, hitsAddend: 3 });
    const over = await handleEnvoyJson(service, body);
    expect(over.statusCode).toBe(429);
    expect(over.body).toMatchObject({ overallCode: 'OVER_LIMIT', statuses: [{ code: 'OVER_LIMIT' }] });
    // proto3 JSON omits defaults: no limitRemaining when it is 0.
    expect((over.body.statuses as Array<Record<string, unknown>>)[0]?.limitRemaining).toBeUndefined();
  });

  it('accepts the proto field names too, and uint64 hits as strings (proto3 JSON)', async () => {
    const { service } = configService();
    const reply = await handleEnvoyJson(service, {
      domain: 'hourly',
      descriptors: [{ entries: [{ key: 'tenant', value: 'acme' }], hits_addend: '3' }],
    });
    expect(reply.body).toMatchObject({ overallCode: 'OK', statuses: [{ limitRemaining: 5 }] });
  });

  it.each([
    ['not json', '{', 'body'],
    ['no domain', { descriptors: [{ entries: [{ key: 'a', value: 'b' }] }] }, 'domain'],
    ['no descriptors', { domain: 'hourly', descriptors: [] }, 'descriptors'],
    [
      'an unknown field',
      { domain: 'hourly', descriptors: [{ entries: [{ key: 'a', value: 'b', extra: 1 }] }] },
      'descriptors[0].entries[0].extra',
    ],
    [
      'a bad unit',
      {
        domain: 'hourly',
        descriptors: [
          { entries: [{ key: 'a', value: 'b' }], limit: { requestsPerUnit: 1, unit: 'FORTNIGHT' } },
        ],
      },
      'descriptors[0].limit.unit',
    ],
    [
      'negative hits',
      { domain: 'hourly', hitsAddend: -1, descriptors: [{ entries: [{ key: 'a', value: 'b' }] }] },
      'hits_addend',
    ],
    [
      'hits beyond 10^9',
      { domain: 'hourly', hitsAddend: 2e9, descriptors: [{ entries: [{ key: 'a', value: 'b' }] }] },
      'hits_addend',
    ],
    [
      'both spellings',
      {
        domain: 'hourly',
        hitsAddend: 1,
        hits_addend: 2,
        descriptors: [{ entries: [{ key: 'a', value: 'b' }] }],
      },
      'hits_addend',
    ],
  ])('%s is a 400 problem naming the field', async (_, body, field) => {
    const { service } = configService();
    const reply = await handleEnvoyJson(service, body);
    expect(reply.statusCode).toBe(400);
    expect(reply.contentType).toBe('application/problem+json');
    expect(reply.body).toMatchObject({ type: 'about:blank', title: 'Bad Request', status: 400, field });
    expect(reply.body.detail).toMatch(new RegExp(`^${field.replace(/[[\].]/g, '\\$&')}`));
  });
});

describe('descriptors mapped onto Sluice policies (domains without an Envoy configuration)', () => {
  const policies: PolicyDefinition[] = [
    { name: 'per-user', scope: 'user', limits: [{ limit: 3, window: '1m', algorithm: 'fixed-window' }] },
    { name: 'per-tenant', scope: 'tenant', limits: [{ limit: 5, window: '1h' }] },
  ];
  function policyService(mapping?: Parameters<typeof createRateLimitService>[0]['mapping']) {
    const clock = new ManualClock(EPOCH);
    const limiter = new PolicyLimiter({
      config: { tierPolicy: { enabled: false }, policies },
      store: new MemoryStore({ clock: clock.now }),
    });
    return createRateLimitService({ policies: limiter, ...(mapping ? { mapping } : {}), clock: clock.now });
  }

  it('tenant and user entries become a RequestContext; hits_addend is the cost; one decision per request', async () => {
    const service = policyService();
    const server = await startGrpcServer({ port: 0, service });
    const client = envoyClient(server.port);
    try {
      const req = (hits: number) => ({
        domain: 'api',
        hits_addend: hits,
        descriptors: [d(['tenant', 'acme']), d(['user', 'ann'], ['remote_address', '10.0.0.1'])],
      });
      const first = await client.call(req(2));
      expect(first.overall_code).toBe('OK');
      expect(
        first.statuses.map((s) => [s.code, s.current_limit?.name, s.current_limit?.unit, s.limit_remaining]),
      ).toEqual([
        ['OK', 'per-user.fixed-window-1m', 'MINUTE', 1],
        ['OK', 'per-user.fixed-window-1m', 'MINUTE', 1],
      ]);
      const over = await client.call(req(2));
      expect(over.overall_code).toBe('OVER_LIMIT');
      expect(st(over)).toMatchObject({ code: 'OVER_LIMIT', limit_remaining: 1 });
      expect(over.response_headers_to_add.map((h) => h.key)).toEqual([
        'ratelimit-policy',
        'ratelimit',
        'retry-after',
      ]);
    } finally {
      client.close();
      await server.close(1000);
    }
  });

  it('the domain is the tenant when no entry names one; the mapping is configurable', async () => {
    const service = policyService({ keys: { customer: 'user', remote_address: 'ignore' } });
    const r = await service.decide({ domain: 'acme', descriptors: [d(['customer', 'bob'])] });
    expect(r.statuses[0]).toMatchObject({ code: 'OK', limitRemaining: 2 });
    expect(() => policyService({ keys: { customer: 'person' as never } })).toThrow(
      'mapping.keys.customer: must be one of',
    );
  });

  it('two different values for one field are INVALID_ARGUMENT naming the entry', async () => {
    const service = policyService();
    await expect(
      service.decide({ domain: 'api', descriptors: [d(['user', 'ann']), d(['user', 'bob'])] }),
    ).rejects.toThrow('descriptors[1].entries[0].value: gives user "bob", another entry gave "ann"');
  });

  it('options are validated strictly', () => {
    expect(() => createRateLimitService({ limiter: {} as never, envoyConfig: rules })).toThrow(
      'limiter: must be a Limiter',
    );
    expect(() => createRateLimitService({ envoyConfig: rules })).toThrow(
      'limiter: is required with envoyConfig',
    );
    expect(() => createRateLimitService({} as never)).toThrow('envoyConfig: or policies is required');
    expect(() => createRateLimitService({ policies: {} as never, headers: 'x' } as never)).toThrow(
      'headers: unknown option',
    );
  });
});
