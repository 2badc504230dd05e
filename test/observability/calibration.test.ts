import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Decision } from '../../src/core/types.js';
import { bucketCeiling, bucketOf, observedRates, RateRecorder } from '../../src/observability/calibration.js';
import { calibrate, calibrationDocument } from '../../src/observability/proposal.js';
import type { Store } from '../../src/stores/store.js';
import { EPOCH, freshPrefix, useBackends } from '../regressions/support.js';

const decisionOf = (tenant: string) => ({ tenant }) as Decision;

/** The exact q-quantile of per-second counts (nearest rank), for comparison with the histogram's. */
function exactQuantile(counts: number[], q: number): number {
  const sorted = [...counts].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1] as number;
}

/** Within the histogram's resolution: never below the exact value, at most 5 % (and one) above. */
function expectClose(estimate: number, exact: number): void {
  expect(estimate).toBeGreaterThanOrEqual(exact);
  expect(estimate).toBeLessThanOrEqual(Math.ceil(exact * 1.05) + 1);
}

/**
 * A generated trace, decided by two instances sharing one store: tenant acme makes i + 1 requests in
 * second i (1 to 200, so its percentiles are known), beta 10 every second; every request alternates
 * between the instances, which flush and fold as the seconds go by.
 */
async function replayTrace(store: Store, prefix: string, clock: ManualClock): Promise<number[]> {
  const instances = [0, 1].map(() => new RateRecorder({ store, prefix, clock: clock.now, intervalMs: 0 }));
  const acme: number[] = [];
  for (let i = 0; i < 200; i++) {
    acme.push(i + 1);
    for (let r = 0; r <= i; r++) instances[r % 2]?.decided({ decision: decisionOf('acme'), durationMs: 0 });
    for (let r = 0; r < 10; r++) instances[r % 2]?.decided({ decision: decisionOf('beta'), durationMs: 0 });
    clock.advance(1000);
    await Promise.all(instances.map((x) => x.flush()));
  }
  clock.advance(5000);
  await Promise.all(instances.map((x) => x.flush()));
  await Promise.all(instances.map((x) => x.close()));
  return acme;
}

describe('calibration', () => {
  const backends = useBackends();

  it('buckets are 5 % apart and hold their counts', () => {
    for (const n of [1, 2, 3, 10, 99, 100, 1000, 123_456]) {
      const b = bucketOf(n);
      expect(bucketCeiling(b)).toBeGreaterThanOrEqual(n);
      expect(b === 0 || bucketCeiling(b - 1) < n).toBe(true);
    }
  });

  for (const name of ['memory', 'redis'] as const) {
    it(`${name}: two instances record a trace with known percentiles; calibrate proposes p99 x 1.5`, async () => {
      const backend = name === 'memory' ? backends.memory(EPOCH) : backends.redis();
      const clock = backend.clock ?? new ManualClock(EPOCH);
      const prefix = freshPrefix();
      const acme = await replayTrace(backend.store, prefix, clock);

      const rates = await observedRates(backend.store, 'acme', { prefix });
      expect(rates.seconds).toBe(200); // each second folded exactly once, by one of the two instances
      expectClose(rates.p50, exactQuantile(acme, 0.5));
      expectClose(rates.p99, exactQuantile(acme, 0.99));
      expectClose(rates.max, 200);
      const beta = await observedRates(backend.store, 'beta', { prefix });
      expect([beta.seconds, beta.p50, beta.p99]).toEqual([200, 10, 10]);

      const result = await calibrate({
        store: backend.store,
        prefix,
        tenants: ['acme', 'beta', 'idle'],
        tierOf: () => 'free',
      });
      const tier = result.tiers.free;
      const merged = [...acme, ...new Array<number>(200).fill(10)];
      expectClose(tier?.observed.p99 ?? 0, exactQuantile(merged, 0.99));
      expect(tier?.rps).toBe(Math.ceil((tier?.observed.p99 ?? 0) * 1.5));
      expect(tier?.observed.tenants).toBe(2); // idle has no traffic: not counted
      // acme's own p99 is the tier's here; beta is well under it: no override for either.
      expect(Object.keys(result.tenants).filter((t) => t === 'beta')).toEqual([]);
      const document = calibrationDocument(result, new Date(EPOCH));
      expect(document).toMatch(
        /^tiers:\n {2}free: \{ rps: \d+, burst: \d+ \} {2}# 2 tenant\(s\), 400 s: p50 \d+, p90 \d+, p99 \d+, max \d+ rps$/m,
      );
      if (backend.admin)
        await cliProposes(`redis://127.0.0.1:${backend.admin.options.port}`, prefix, tier?.rps ?? 0);
    });
  }

  /** `sluice calibrate FILE --tenants acme,beta` prints the same proposal, read from the config's Redis. */
  async function cliProposes(url: string, prefix: string, rps: number): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-calibrate-'));
    const file = join(dir, 'sluice.yml');
    writeFileSync(
      file,
      `prefix: ${prefix}\nstore: { type: redis, url: ${JSON.stringify(url)} }\ntiers: { free: { rps: 5 } }\n`,
    );
    let printed = '';
    const code = await main(
      ['calibrate', file, '--tenants', 'acme,beta'],
      { write: (t) => (printed += t) },
      { write: (t) => (printed += t) },
    );
    expect(code).toBe(0);
    expect(printed).toContain(`  free: { rps: ${rps}, burst: ${2 * rps} }`);
    // A value that is no number is invalid input (1); a flag without its value is a usage error (2).
    expect(await main(['calibrate', file, '--factor', 'x'], { write: () => 0 }, { write: () => 0 })).toBe(1);
    expect(await main(['calibrate', file, '--factor'], { write: () => 0 }, { write: () => 0 })).toBe(2);
  }
});
