import { describe, expect, it } from 'vitest';

/**
 * The README's "Envoy's rate limit service" example, run as written (from the sources): a server on
 * envoyproxy/ratelimit's own configuration, and a client of it.
 */
describe("the README's Envoy example", () => {
  it('starts, answers OK then OVER_LIMIT, and closes', async () => {
    const { Limiter, MemoryStore } = await import('../../src/index.js');
    const { createRateLimitService, handleEnvoyJson, loadEnvoyConfig, startGrpcServer } = await import(
      '../../src/server/envoy/index.js'
    );
    // --- README snippet begins ---
    const limiter = new Limiter({ store: new MemoryStore() });
    const service = createRateLimitService({
      limiter,
      envoyConfig: loadEnvoyConfig('test/fixtures/envoy/example2.yaml'),
    });
    const grpc = await startGrpcServer({ host: '127.0.0.1', port: 0, service });

    const body = {
      domain: 'messaging',
      descriptors: [
        {
          entries: [
            { key: 'message_type', value: 'marketing' },
            { key: 'to_number', value: '2061111111' },
          ],
        },
      ],
    };
    const replies = [];
    for (let i = 0; i < 6; i++) replies.push((await handleEnvoyJson(service, body)).statusCode);
    // replies: [200, 200, 200, 200, 200, 429]
    await grpc.close(5000);
    // --- README snippet ends ---
    expect(replies).toEqual([200, 200, 200, 200, 200, 429]);
  });
});
