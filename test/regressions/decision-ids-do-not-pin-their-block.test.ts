import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { nextDecisionId } from '../../src/engine/plan.js';

// Decision ids were 16-character slices of a 4 KB encoded block of random bytes: every id kept (a
// sliding-log entry, a lease, a refund ledger) kept its whole block alive, 256 times its own size.
describe('regression: decision ids do not pin their block (decision-ids-do-not-pin-their-block)', () => {
  it('keeping one id of each block keeps about the ids, not the blocks', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage().heapUsed;
    const kept: string[] = [];
    for (let i = 0; i < 256 * 4000; i++) {
      const id = nextDecisionId();
      if (i % 256 === 0) kept.push(id);
    }
    gc();
    const retained = process.memoryUsage().heapUsed - before;
    expect(kept.length).toBe(4000);
    expect(new Set(kept).size).toBe(4000);
    // 4,000 blocks would be 16 MB; 4,000 ids of 16 characters, well under 1 MB.
    expect(retained).toBeLessThan(2 * 2 ** 20);
  });
});
