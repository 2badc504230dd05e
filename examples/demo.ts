/**
 * A tour of Sluice on the embedded default (in-memory store, no Redis): one call decides each request
 * against several windows of a tenant at once. Run with `npm run demo`.
 */
import { createLimiter, type Decision } from '../src/index.js';

const limiter = createLimiter({
  limits: [
    // Seed 001's windows: per second, per minute, per hour, and a burst bucket.
    { name: 'per-second', algorithm: 'sliding-log', limit: 5, window: '1s' },
    { name: 'per-minute', algorithm: 'sliding-window', limit: 12, window: '1m' },
    { name: 'per-hour', algorithm: 'fixed-window', limit: 1000, window: '1h' },
    { name: 'burst', algorithm: 'token-bucket', limit: 20, window: '10s', burst: 8 },
  ],
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function show(label: string, d: Decision): void {
  const verdict = d.allowed ? 'ALLOW' : d.reason.toUpperCase();
  const windows = d.limits.map((l) => `${l.name}=${l.remaining}/${l.limit}`).join(' ');
  const retry = d.allowed ? '' : `  retry in ${d.retryAfterMs} ms`;
  console.log(
    `${label.padEnd(28)} ${verdict.padEnd(13)} binding=${d.binding.name.padEnd(10)} ${windows}${retry}`,
  );
}

async function main(): Promise<void> {
  console.log('Sluice demo: memory store, 4 limits per decision (5/s, 12/min, 1000/h, burst 8)\n');

  console.log('1. Tenant "acme", user "alice" sends 7 requests back to back (within one second):');
  for (let i = 1; i <= 7; i++)
    show(`   acme/alice #${i}`, await limiter.limit({ tenant: 'acme', key: 'alice' }));

  console.log('\n2. Another tenant is isolated: "globex" with the same user id is untouched:');
  show('   globex/alice #1', await limiter.limit({ tenant: 'globex', key: 'alice' }));

  console.log(
    '\n3. One second later the per-second window has slid; the burst bucket has refilled 2 tokens:',
  );
  await sleep(1000);
  for (let i = 8; i <= 10; i++)
    show(`   acme/alice #${i}`, await limiter.limit({ tenant: 'acme', key: 'alice' }));

  console.log('\n4. A weighted request (cost 4) that does not fit consumes nothing:');
  show('   acme/alice cost=4', await limiter.limit({ tenant: 'acme', key: 'alice', cost: 4 }));
  show('   acme/alice peek', await limiter.peek({ tenant: 'acme', key: 'alice' }));

  console.log('\n5. An operator blocks a key for 30 s:');
  await limiter.block({ tenant: 'acme', key: 'mallory' }, '30s');
  show('   acme/mallory', await limiter.limit({ tenant: 'acme', key: 'mallory' }));

  await limiter.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
