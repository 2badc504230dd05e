/**
 * The ceiling of this machine for the decision API's shape of traffic: a bare Fastify server (the
 * service's own options, no hooks, no validation) answering POST /v1/check with a fixed small JSON
 * body, in its own process: a small one, or with `--answer FILE` a copy of the service's own answer
 * (an object, serialized for every request as the service's is). Prints the line `sluice serve`
 * prints, so bench/service/spawn.ts starts either the same way.
 *
 *   node --import tsx bench/service/bare.ts [--answer FILE] --port PORT
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
}

async function main(): Promise<void> {
  const port = Number(flag('--port'));
  const file = flag('--answer');
  const answer: unknown = file ? JSON.parse(readFileSync(file, 'utf8')) : { allowed: true, status: 200 };
  const app = Fastify({ logger: false, bodyLimit: 256 * 1024, keepAliveTimeout: 65_000 });
  app.post('/v1/check', async () => answer);
  await app.listen({ host: '127.0.0.1', port });
  process.stdout.write(`sluice: listening on http://127.0.0.1:${port}\n`);
  const stop = () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

await main();
