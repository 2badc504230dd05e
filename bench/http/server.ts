/**
 * One benchmarked HTTP server, in its own process so the load generator does not share its event loop:
 *
 *   node --import tsx bench/http/server.ts <framework> <variant> <redisUrl> <port>
 *
 * Prints `listening <port>` once it accepts connections. Over the IPC channel (when spawned with one)
 * it answers `{ type: 'stats' }` with its CPU time so far and, for Sluice, how many times the
 * limiter's circuit breaker has opened; it shuts down on SIGTERM, SIGINT or when the
 * parent disconnects.
 */
import { startApp } from './apps.js';
import { isFramework, isVariant } from './config.js';

const SHUTDOWN_TIMEOUT_MS = 3000;

async function main(): Promise<void> {
  const [framework, variant, redisUrl, portText] = process.argv.slice(2);
  const port = Number(portText);
  if (!isFramework(framework) || !isVariant(variant) || !redisUrl || !Number.isInteger(port)) {
    throw new Error('usage: server.ts <express|fastify|hono> <none|sluice|incumbent> <redisUrl> <port>');
  }
  const server = await startApp(framework, variant, redisUrl, port);

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), SHUTDOWN_TIMEOUT_MS).unref();
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.once('disconnect', stop);
  process.on('message', (message: unknown) => {
    if ((message as { type?: string } | null)?.type !== 'stats') return;
    const { user, system } = process.cpuUsage();
    const cpuUs = user + system;
    (server.circuitOpened?.() ?? Promise.resolve(null)).then(
      (circuitOpened) => process.send?.({ type: 'stats', cpuUs, circuitOpened }),
      () => process.send?.({ type: 'stats', cpuUs, circuitOpened: null }),
    );
  });
  process.stdout.write(`listening ${server.port}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
