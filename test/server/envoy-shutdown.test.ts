import { describe, expect, it } from 'vitest';
import { type RateLimitService, type RlsResponse, startGrpcServer } from '../../src/server/envoy/index.js';
import { d, envoyClient } from './envoy-support.js';

const OK: RlsResponse = {
  overallCode: 'OK',
  statuses: [{ code: 'OK', limitRemaining: 0 }],
  responseHeadersToAdd: [],
};

/** A service whose answers wait until released: calls stay in flight as long as a test wants. */
function heldService() {
  const held: Array<() => void> = [];
  let arrived: () => void = () => {};
  const firstArrival = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const service: RateLimitService = {
    domains: [],
    shouldRateLimit: () => Promise.resolve(OK),
    decide: () =>
      new Promise((resolve) => {
        held.push(() => resolve(OK));
        arrived();
      }),
  };
  return { service, held, firstArrival };
}

const request = { domain: 'd', descriptors: [d(['k', 'v'])] };

describe('the gRPC server shuts down gracefully', () => {
  it('lets a call in flight finish, then refuses new ones', async () => {
    const { service, held, firstArrival } = heldService();
    const server = await startGrpcServer({ port: 0, service });
    const client = envoyClient(server.port);
    const inFlight = client.call(request);
    await firstArrival;
    const closed = server.close(10_000);
    for (const release of held) release();
    expect((await inFlight).overall_code).toBe('OK');
    await closed;
    const late = await client.call(request).then(
      () => 'answered',
      (e: { code: number }) => e.code,
    );
    expect(late).toBe(14); // UNAVAILABLE: nobody listens any more
    client.close();
  });

  it('cancels the calls still in flight once the bound has passed', async () => {
    const { service, firstArrival } = heldService();
    const server = await startGrpcServer({ port: 0, service });
    const client = envoyClient(server.port);
    const inFlight = client.call(request).then(
      () => 'answered',
      (e: { code: number }) => e.code,
    );
    await firstArrival;
    await server.close(50);
    expect(await inFlight).not.toBe('answered');
    client.close();
  });

  it('validates its options', async () => {
    const { service } = heldService();
    await expect(startGrpcServer({ port: -1, service })).rejects.toThrow('port: must be an integer');
    await expect(startGrpcServer({ port: 0, service, hots: 'x' } as never)).rejects.toThrow(
      'hots: unknown option',
    );
    await expect(startGrpcServer({ port: 0, service: {} as never })).rejects.toThrow(
      'service: must be a RateLimitService',
    );
  });
});
