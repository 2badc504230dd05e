import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PolicyLimiter } from '../../src/policy/policy-limiter.js';
import { type RedisServer, startRedis } from '../support/redis-servers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const REFRESH_MS = 200;

/** Lines the child prints, as parsed JSON, delivered as they arrive. */
function linesOf(child: ChildProcess): () => Promise<Record<string, unknown>> {
  const queue: Array<Record<string, unknown>> = [];
  const waiting: Array<(line: Record<string, unknown>) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as Record<string, unknown>;
    const next = waiting.shift();
    if (next) next(line);
    else queue.push(line);
  });
  return () => {
    const ready = queue.shift();
    return ready ? Promise.resolve(ready) : new Promise((resolve) => waiting.push(resolve));
  };
}

describe('runtime overrides through the shared store (Redis, two processes)', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it(`a tier change made through one instance reaches another process within refreshInterval (${REFRESH_MS} ms)`, async () => {
    const config = {
      store: { type: 'redis', url: server.url },
      refreshInterval: `${REFRESH_MS}ms`,
      prefix: 'runtime',
    };
    const admin = await PolicyLimiter.create({ config });
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/policy/runtime-worker.ts', server.url, 'growing'],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      const next = linesOf(child);
      expect(await next()).toEqual({ ready: true });
      expect(await next()).toMatchObject({ tier: 'free', version: 0 });
      const changedAt = Date.now();
      expect(await admin.setTenantTier('growing', 'premium')).toBe(1);
      const seen = await next();
      expect(seen).toMatchObject({ tier: 'premium', version: 1 });
      const lag = (seen.at as number) - changedAt;
      console.log(
        `[runtime] override seen by the other process after ${lag} ms (bound: ${REFRESH_MS} ms + a round trip)`,
      );
      expect(lag).toBeLessThan(REFRESH_MS + 250);
      // This instance applied its own change at once.
      expect((await admin.check({ tenant: 'growing' })).tier).toBe('premium');
    } finally {
      child.kill();
      await admin.close();
    }
  });

  it('a broken overrides document is ignored: every instance keeps the last good one and says why', async () => {
    const config = { store: { type: 'redis', url: server.url }, refreshInterval: '50ms', prefix: 'broken' };
    const errors: Error[] = [];
    const instance = await PolicyLimiter.create({ config, onConfigError: (e) => errors.push(e) });
    await instance.setTenantTier('t', 'basic');
    const raw = new Redis(server.url);
    await raw.set('broken:{~runtime}:overrides', '2\n{"tenants":{"t":{"tier":"gold"}}}');
    await instance.refresh();
    expect(instance.configVersion).toBe(1);
    expect((await instance.check({ tenant: 't' })).tier).toBe('basic');
    expect(errors.at(-1)?.message).toContain('tenants.t.tier: unknown tier "gold"');
    await raw.set('broken:{~runtime}:overrides', '3\n{not json');
    await instance.refresh();
    expect(instance.configVersion).toBe(1);
    expect(errors.at(-1)?.message).toMatch(/JSON/);
    raw.disconnect();
    await instance.close();
  });
});
