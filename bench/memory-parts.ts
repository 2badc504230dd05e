/**
 * Where a memory-store decision's time goes, part by part, synchronously (no promises): lay out the
 * subject, plan (decision id), decide on the store, build the Decision. For profiling the memory store
 * (issue 13); not part of `npm run bench`.   tsx bench/memory-parts.ts   (BENCH_PARTS_KEYS=10000)
 */
import { buildDecision } from '../src/engine/decision.js';
import { ConfiguredLayout } from '../src/engine/layout.js';
import { normalizeLimits } from '../src/engine/limits.js';
import { planDecision } from '../src/engine/plan.js';
import { MemoryStore } from '../src/stores/memory/memory-store.js';
import { mulberry32 } from './lib/spread-keys.js';

const keys = Number(process.env['BENCH_PARTS_KEYS'] ?? 10_000);
const limits = normalizeLimits([{ name: 'per-second', algorithm: 'fixed-window', limit: 1e9, window: '1s' }]);
const layout = new ConfiguredLayout('p', limits);
const store = new MemoryStore({ maxKeys: 2e6, maxKeysPerTenant: 2e6 });
const names = Array.from({ length: keys }, (_, i) => `u${i}`);

function time(label: string, n: number, body: (i: number) => void): void {
  const random = mulberry32(7);
  const t0 = performance.now();
  for (let j = 0; j < n; j++) body(Math.floor(random() * keys));
  const ns = ((performance.now() - t0) * 1e6) / n;
  console.log(`${label.padEnd(34)} ${ns.toFixed(0).padStart(6)} ns/decision`);
}

const N = 2_000_000;
for (let round = 0; round < 2; round++) {
  time('keys only', N, (i) => void `u${i}`.length);
  time('layout.subject', N, (i) => void layout.subject('bench', `u${i}`));
  time('layout + plan', N, (i) => void planDecision(layout.subject('bench', `u${i}`), 1, false));
  time('layout + plan + decideSync', N, (i) => {
    store.decideSync(planDecision(layout.subject('bench', `u${i}`), 1, false));
  });
  time('all (+ buildDecision)', N, (i) => {
    const subject = layout.subject('bench', `u${i}`);
    const plan = planDecision(subject, 1, false);
    const raw = store.decideSync(plan);
    void buildDecision(raw, subject, `u${i}`, 1, plan.id, 'memory');
  });
  time('names[i] (no new key string)', N, (i) => {
    const key = names[i] as string;
    const subject = layout.subject('bench', key);
    const plan = planDecision(subject, 1, false);
    const raw = store.decideSync(plan);
    void buildDecision(raw, subject, key, 1, plan.id, 'memory');
  });
}
