import { describe, expect, it } from 'vitest';
import { ConfiguredLayout } from '../../src/engine/layout.js';
import { normalizeLimits } from '../../src/engine/limits.js';
import { resolveSubject } from '../../src/engine/plan.js';
import { RECENT_CAPACITY, RecentSubjects } from '../../src/engine/recent-subjects.js';

const limits = normalizeLimits([
  { name: 'k', limit: 5, window: '1s' },
  { name: 't', limit: 50, window: '1m', scope: 'tenant' },
]);

function expected(tenant: string, key: string) {
  return resolveSubject(
    'p',
    tenant,
    limits.map((limit) => ({ limit, key })),
  );
}

describe('recent subjects: a layout reuses the subjects of keys it laid out lately', () => {
  it('returns the same subject for a key seen again, equal to a fresh layout, per tenant', () => {
    const layout = new ConfiguredLayout('p', limits);
    const a = layout.subject('t', 'a');
    layout.subject('t', 'b');
    expect(layout.subject('t', 'a')).toBe(a);
    expect(a).toEqual(expected('t', 'a'));
    // The same key in another tenant is another subject.
    const other = layout.subject('u', 'a');
    expect(other).not.toBe(a);
    expect(other).toEqual(expected('u', 'a'));
    expect(layout.subject('t', 'a')).toEqual(expected('t', 'a'));
  });

  it('keeps at most RECENT_CAPACITY subjects, and stays on while most lookups find one', () => {
    const layout = new ConfiguredLayout('p', limits);
    const keys = RECENT_CAPACITY / 2;
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < keys; i++) layout.subject('t', `k${(i * 7919) % keys}`);
    }
    expect(layout.recent.size).toBe(keys);
    expect(layout.recent.cooldowns).toBe(0);
    // More keys than it holds: it never holds more than RECENT_CAPACITY.
    for (let i = 0; i < 3 * RECENT_CAPACITY; i++) layout.subject('t', `spread${i % (RECENT_CAPACITY + 1)}`);
    expect(layout.recent.size).toBeLessThanOrEqual(RECENT_CAPACITY);
  });

  it('turns itself off for `cooldown` lookups after a generation where under half found a subject', () => {
    const recent = new RecentSubjects(8, 20);
    const subject = (tenant: string) => ({ ...expected(tenant, 'x'), tenant });
    // Every key new: a whole generation of misses.
    let n = 0;
    while (recent.cooldowns === 0) {
      const key = `new${n++}`;
      expect(recent.get('t', key)).toBeUndefined();
      recent.keep(key, subject('t'));
    }
    expect(n).toBe(9);
    expect(recent.size).toBe(0);
    // Off for 20 lookups: nothing is found, nor kept while it is off.
    for (let i = 0; i < 20; i++) {
      expect(recent.get('t', 'again')).toBeUndefined();
      if (i < 19) recent.keep('again', subject('t'));
    }
    expect(recent.size).toBe(0);
    // Then on again: kept, found, for its own tenant only.
    const kept = subject('t');
    recent.keep('again', kept);
    expect(recent.get('t', 'again')).toBe(kept);
    expect(recent.get('u', 'again')).toBeUndefined();
  });

  it('stays on across generations where most lookups found a subject', () => {
    const recent = new RecentSubjects(8, 20);
    // Six hot keys seen twice and one new key per round: generations end (8 kept), most found.
    const hot = ['h0', 'h1', 'h2', 'h3', 'h4', 'h5'];
    let generations = 0;
    for (let round = 0; round < 30; round++) {
      for (const key of [...hot, ...hot, `new${round}`]) {
        if (recent.get('t', key) !== undefined) continue;
        if (recent.size === 8) generations++;
        recent.keep(key, { ...expected('t', key) });
      }
    }
    expect(generations).toBeGreaterThan(2);
    expect(recent.cooldowns).toBe(0);
    expect(recent.size).toBeLessThanOrEqual(8);
  });
});
