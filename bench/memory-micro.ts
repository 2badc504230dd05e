/**
 * A quick side-by-side of the in-process contenders of the spread bench (sluice-memory-fw against
 * rlf-memory, driven the same way: the spread bench's driver, 64 in flight) over uniform keys, for
 * iterating on the memory store without Redis. Not part of `npm run bench`.
 *
 *   tsup --silent && tsx bench/memory-micro.ts            (BENCH_MICRO_KEYS=10000,1000000 BENCH_MICRO_SECONDS=2
 *   BENCH_MICRO_ROUNDS=3 BENCH_MICRO_CONTENDERS=sluice-memory-fw,rlf-memory)
 */
import { drive } from './lib/driver.js';
import { envNumber } from './lib/settings.js';
import { SPREAD_CONTENDERS } from './lib/spread-contenders.js';
import { mulberry32 } from './lib/spread-keys.js';

const seconds = envNumber('BENCH_MICRO_SECONDS', 2);
const rounds = envNumber('BENCH_MICRO_ROUNDS', 3, true);
const keySets = (process.env['BENCH_MICRO_KEYS'] ?? '10000,1000000').split(',').map(Number);
const names = (process.env['BENCH_MICRO_CONTENDERS'] ?? 'sluice-memory-fw,rlf-memory').split(',');
const factories = names.map((n) => {
  const f = SPREAD_CONTENDERS.find((c) => c.name === n);
  if (!f) throw new Error(`unknown contender ${n}`);
  return f;
});

for (const keys of keySets) {
  const results = new Map<string, { rate: number; p99: number; cpu: number }[]>();
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? factories : [...factories].reverse();
    for (const factory of order) {
      const contender = await factory.create('', 1e9, false);
      const random = mulberry32(7);
      const decide = () => {
        const index = Math.floor(random() * keys);
        return contender.decide({ tenant: 'bench', key: `u${index}`, index });
      };
      await drive(decide, 64, 1000);
      const r = await drive(decide, 64, seconds * 1000);
      await contender.close();
      const list = results.get(factory.name) ?? [];
      list.push({ rate: r.decisionsPerSec, p99: r.p99Us, cpu: r.nodeCpuUs / r.decisions });
      results.set(factory.name, list);
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const base = median((results.get(names[names.length - 1] as string) ?? []).map((r) => r.rate));
  for (const [name, list] of results) {
    const rate = median(list.map((r) => r.rate));
    console.log(
      `${String(keys).padStart(8)} keys  ${name.padEnd(18)} ${Math.round(rate).toLocaleString('en-US').padStart(9)}/s ` +
        `x${(rate / base).toFixed(2)}  p99 ${median(list.map((r) => r.p99))} µs  cpu ${median(list.map((r) => r.cpu)).toFixed(2)} µs/dec  ` +
        `rounds ${list.map((r) => Math.round(r.rate / 1000)).join(',')}k`,
    );
  }
}
