/**
 * Memory per key of the in-process limiters (Sluice's MemoryStore and rate-limiter-flexible's memory
 * limiter): V8 heap plus array buffers after a full GC, before and after `keys` keys each got one
 * decision, divided by `keys`. Windows are an hour long so nothing expires while the keys are filled.
 * The figure includes everything the limiter keeps per key: its key strings, state, expiry bookkeeping
 * (Sluice's heap, rlf's one timer per key).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { createLimiter, type LimitDefinition, MemoryStore } from '../../dist/index.js';
import { HUGE } from './contenders.js';

export interface ProcessMemoryRow {
  contender: string;
  what: string;
  keys: number;
  bytesPerKey: number;
}

interface InProcess {
  name: string;
  what: string;
  /** A fresh limiter: `decide(i)` makes one decision on key number i; `close()` releases it. */
  create(keys: number): { decide(i: number): Promise<unknown>; close(): Promise<void> };
}

/** A whole-heap GC: `global.gc` when node runs with --expose-gc, else exposed now through V8's flags. */
export function collector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function sluiceMemory(name: string, limit: LimitDefinition, what: string): InProcess {
  return {
    name,
    what,
    create: (keys) => {
      const limiter = createLimiter({
        limits: [limit],
        store: new MemoryStore({ maxKeys: keys + 1000, maxKeysPerTenant: keys + 1000 }),
      });
      return {
        decide: (i) => limiter.limit({ tenant: 'mem', key: `user-${i}` }),
        close: () => limiter.close(),
      };
    },
  };
}

const IN_PROCESS: InProcess[] = [
  sluiceMemory(
    'sluice-memory',
    { algorithm: 'sliding-log', limit: HUGE, window: '1h' },
    'Sluice MemoryStore, one sliding-log limit, one entry per key',
  ),
  sluiceMemory(
    'sluice-memory-fw',
    { algorithm: 'fixed-window', limit: HUGE, window: '1h' },
    'Sluice MemoryStore, one fixed-window limit',
  ),
  {
    name: 'rlf-memory',
    what: 'rate-limiter-flexible RateLimiterMemory (a fixed window; one timer per key)',
    create: () => {
      const limiter = new RateLimiterMemory({ points: HUGE, duration: 3600 });
      return {
        decide: (i) => limiter.consume(`user-${i}`),
        // Its per-key timers are unref'ed and die with the limiter; nothing to close.
        close: async () => {},
      };
    },
  },
];

export async function measureProcessMemory(keys: number): Promise<ProcessMemoryRow[]> {
  const gc = collector();
  const rows: ProcessMemoryRow[] = [];
  for (const contender of IN_PROCESS) {
    const used = () => {
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const before = used();
    const limiter = contender.create(keys);
    for (let i = 0; i < keys; i++) await limiter.decide(i);
    const after = used();
    rows.push({
      contender: contender.name,
      what: contender.what,
      keys,
      bytesPerKey: (after - before) / keys,
    });
    await limiter.close();
  }
  return rows;
}
