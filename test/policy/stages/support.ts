import { ManualClock } from '../../../src/core/clock.js';
import { StoreError } from '../../../src/core/errors.js';
import { Limiter } from '../../../src/limiter.js';
import { Reputation } from '../../../src/policy/adaptive.js';
import { parseConfig } from '../../../src/policy/config.js';
import { PolicySet } from '../../../src/policy/resolve.js';
import { Resolver } from '../../../src/policy/stages/resolve.js';
import { MemoryStore } from '../../../src/stores/memory/memory-store.js';

/** The parts a stage is built from, on a memory store at a real epoch instant. */
export function parts(doc: Record<string, unknown>) {
  const clock = new ManualClock(1_800_000_040_000);
  const store = new FlakyStore({ clock: clock.now });
  const engine = new Limiter({ store, prefix: 'stages', guard: false });
  const config = parseConfig({ prefix: 'stages', ...doc });
  const set = new PolicySet(config);
  const resolver = new Resolver(engine, undefined);
  const reputation = new Reputation(engine, config.reputation, clock.now);
  return { clock, store, engine, config, set, resolver, reputation };
}

/** A memory store that can be taken down: its decisions fail as a store's do. */
export class FlakyStore extends MemoryStore {
  down = false;
  override decide(plan: Parameters<MemoryStore['decide']>[0]) {
    return this.down ? Promise.reject(new StoreError('memory', 'down')) : super.decide(plan);
  }
}
