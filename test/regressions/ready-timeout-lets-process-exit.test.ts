import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedis } from '../support/redis-servers.js';

/**
 * Issue 12: store.ready() rejected after its timeout but left the process hanging: the client kept
 * reconnecting, so a script that caught the error and returned never exited. A store that gives up
 * now closes the connection it opened (PolicyLimiter.create asks it to keep trying instead).
 * Runs the built package in a child process, as a user's script would.
 */
describe('regression: ready() that times out lets the process exit', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
    await server.kill(); // nothing listens on the port
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('the script exits on its own after catching the error', async () => {
    const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
    const script = `
      import { RedisStore } from ${JSON.stringify(dist)};
      const store = new RedisStore({ url: 'redis://127.0.0.1:${server.port}' });
      try { await store.ready(300); } catch (error) { console.log('refused:', error.code, error.message); }
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    const exited = await new Promise<number | 'hung'>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('hung');
      }, 15_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code ?? -1);
      });
    });
    expect(out).toMatch(/refused: ERR_SLUICE_STORE .*not connected after 300 ms.*closed its connection/);
    expect(exited).toBe(0);
  });
});
