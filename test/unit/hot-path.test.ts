import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALGORITHM_NAMES, ALGORITHMS } from '../../src/algorithms/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { type SluiceError, StoreError } from '../../src/core/errors.js';
import { encodeIdentifier } from '../../src/core/identifiers.js';
import { blockKey, keyParts, ledgerKey, metaKey, stateKey } from '../../src/core/keys.js';
import type { Decision } from '../../src/core/types.js';
import { ConfiguredLayout } from '../../src/engine/layout.js';
import { normalizeLimit, normalizeLimits } from '../../src/engine/limits.js';
import { nextDecisionId, resolveSubject } from '../../src/engine/plan.js';
import { createLimiter } from '../../src/limiter.js';
import { MemoryStore } from '../../src/stores/memory/memory-store.js';
import type { DecisionPlan, RawDecision, Store } from '../../src/stores/store.js';

/**
 * Issue 13: the decision path lays out a configured request without a cache of subjects, encodes
 * safe identifiers without a regex, slices decision ids from one encoded block, indexes the memory
 * store by the short parts of its keys and decides in process without promise hops. Each shortcut
 * must give what the general path gives.
 */

const identifier = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/),
  fc.string({ minLength: 0, maxLength: 12 }),
  fc.constantFrom('*', 'a:b', '{t}', 'ü', 'x'.repeat(256), 'x'.repeat(257)),
);

/** What a call gives: its value, or its error's class, code and message. */
function outcome<T>(run: () => T): T | { error: string } {
  try {
    return run();
  } catch (error) {
    const e = error as SluiceError;
    return { error: `${e.name} ${e.code} ${e.message}` };
  }
}

describe('configured layout: the same subject as resolveSubject', () => {
  const sets = [
    [{ name: 'k', limit: 5, window: '1s' }],
    [{ name: 't', limit: 5, window: '1s', scope: 'tenant' }],
    [
      { name: 't', limit: 5, window: '1m', scope: 'tenant' },
      { name: 'k', algorithm: 'sliding-log', limit: 5, window: '1s' },
      { name: 'c', algorithm: 'concurrency', limit: 2, window: '10s' },
    ],
  ].map((definitions) => normalizeLimits(definitions));

  it('for any tenant and key (errors included), on first and repeated calls', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: sets.length - 1 }),
        fc.array(fc.tuple(identifier, fc.option(identifier, { nil: undefined })), {
          minLength: 1,
          maxLength: 6,
        }),
        (set, requests) => {
          const limits = sets[set] as ReturnType<typeof normalizeLimits>;
          const layout = new ConfiguredLayout('p', limits);
          for (const [tenant, key] of [...requests, ...requests]) {
            const expected = outcome(() =>
              resolveSubject(
                'p',
                tenant,
                limits.map((limit) => ({ limit, key })),
              ),
            );
            expect(outcome(() => layout.subject(tenant, key))).toEqual(expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('throws what resolveSubject throws for keys that are not strings', () => {
    const limits = sets[2] as ReturnType<typeof normalizeLimits>;
    const layout = new ConfiguredLayout('p', limits);
    for (const key of [undefined, 42, null, {}]) {
      const expected = outcome(() =>
        resolveSubject(
          'p',
          't',
          limits.map((limit) => ({ limit, key: key as string })),
        ),
      );
      expect(outcome(() => layout.subject('t', key))).toEqual(expected);
    }
  });
});

describe('identifier encoding: the fast path agrees with the general one', () => {
  it('keeps exactly the safe identifiers of at most 256 bytes', () => {
    fc.assert(
      fc.property(identifier, (value) => {
        const general = /^[A-Za-z0-9._~-]+$/.test(value) && Buffer.byteLength(value) <= 256;
        const encoded = outcome(() => encodeIdentifier(value, 'key'));
        if (general) expect(encoded).toBe(value);
        else expect(encoded).not.toBe(value);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('key parts: the inverse of the key schema', () => {
  const segment = fc.stringMatching(/^[A-Za-z0-9._~%-]{1,10}$/);
  it('finds the tenant meta key, kind, subject and limit id of every key', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9._:-]{1,12}$/),
        segment,
        fc.oneof(segment, fc.constant('*')),
        fc.stringMatching(/^[A-Za-z0-9.%-]{1,8}:[a-z]{2}[0-9]{1,6}$/),
        (prefix, tenant, subject, limitId) => {
          const meta = metaKey(prefix, tenant);
          expect(keyParts(stateKey(prefix, tenant, subject, limitId))).toEqual({
            metaKey: meta,
            kind: 's',
            subject,
            limitId,
          });
          expect(keyParts(blockKey(prefix, tenant, subject))).toEqual({
            metaKey: meta,
            kind: 'b',
            subject,
            limitId: '',
          });
          expect(keyParts(meta)).toEqual({ metaKey: meta, kind: 'm', subject: '', limitId: '' });
          const ledger = ledgerKey(stateKey(prefix, tenant, subject, limitId), 'id1');
          expect(keyParts(ledger)?.kind).toBe('r');
        },
      ),
    );
  });

  it('finds nothing in strings outside the schema', () => {
    for (const key of [
      '',
      'k1',
      'sluice:t:s:k:x',
      'sluice:{t}',
      'sluice:{t}:',
      'sluice:{t}:s:',
      'sluice:{t}:s:k',
    ]) {
      expect(keyParts(key)).toBeUndefined();
    }
  });
});

describe('decision ids: slices of one encoded block', () => {
  it('are 16 base64url characters (96 bits), all distinct, across blocks', () => {
    const ids = Array.from({ length: 256 * 20 }, () => nextDecisionId());
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('memory store: string states keep their fields', () => {
  it('every state of a ledger algorithm has the fields of its first (what its copier copies)', () => {
    const now = 1_800_000_000_123;
    for (const name of ALGORITHM_NAMES) {
      const algorithm = ALGORITHMS[name];
      if (!algorithm.ledger) continue;
      const limit = normalizeLimit({ algorithm: name, limit: 3, window: '1s' }, 'limit');
      const fields = Object.keys(algorithm.load(undefined, now, limit) as object);
      let state = algorithm.load(undefined, now, limit);
      for (let step = 0; step < 50; step++) {
        const at = now + step * 137;
        state = algorithm.load(state, at, limit);
        if (algorithm.fits(state, at, limit, 1).fits) algorithm.commit(state, at, limit, 1, `d${step}`);
        expect(Object.keys(state as object)).toEqual(fields);
      }
    }
  });
});

describe('memory store: decided in process, through decide when it is overridden', () => {
  const limits = [{ name: 'm', limit: 2, window: '1h' }];

  it('a subclass overriding decide sees every decision', async () => {
    const seen: DecisionPlan[] = [];
    class Recording extends MemoryStore {
      override decide(plan: DecisionPlan): Promise<RawDecision> {
        seen.push(plan);
        return super.decide(plan);
      }
    }
    const limiter = createLimiter({ limits, store: new Recording() });
    await limiter.limit({ tenant: 't', key: 'k' });
    await limiter.peek({ tenant: 't', key: 'k' });
    expect(seen).toHaveLength(2);
  });

  it('decide and decideSync answer alike', async () => {
    const clock = new ManualClock(1_800_000_000_123);
    const a = new MemoryStore({ clock: clock.now });
    const b = new MemoryStore({ clock: clock.now });
    const subject = resolveSubject(
      'p',
      't',
      normalizeLimits(limits).map((limit) => ({ limit, key: 'k' })),
    );
    for (let i = 0; i < 4; i++) {
      const plan = {
        tenant: 't',
        metaKey: subject.metaKey,
        blockKeys: subject.blockKeys,
        limits: subject.limits,
        cost: 1,
        penalty: false,
        id: `d${i}`,
      };
      expect(a.decideSync(plan)).toEqual(await b.decide(plan));
    }
  });
});

describe('local failure mode: the configured limits decide as the same ad-hoc checks', () => {
  it('shares of 0 and not, per key and tenant-wide, for several keys and tenants', async () => {
    const definitions = [
      { name: 'k', limit: 2, window: '1h' },
      { name: 't', limit: 30, window: '1h', scope: 'tenant' as const },
      { name: 'w', algorithm: 'sliding-window' as const, limit: 9, window: '1m' },
    ];
    const down = (): Store =>
      Object.create(new MemoryStore(), {
        backend: { value: 'down' },
        decide: { value: () => Promise.reject(new StoreError('down', 'connection refused')) },
      }) as Store;
    const clock = new ManualClock(1_800_000_000_123);
    const options = {
      failureMode: 'local' as const,
      localShare: { instances: 3 },
      guard: false as const,
      clock: clock.now,
    };
    const configured = createLimiter({ ...options, store: down(), limits: definitions });
    const adHoc = createLimiter({ ...options, store: down() });
    const view = (d: Decision) => [
      d.allowed,
      d.reason,
      d.path,
      d.remaining,
      d.limits.map((l) => [l.limit, l.remaining, l.key]),
    ];
    for (let i = 0; i < 40; i++) {
      const request = { tenant: `t${i % 3}`, key: `k${i % 5}` };
      const a = await configured.limit(request);
      const b = await adHoc.decide({
        ...request,
        checks: definitions.map((limit) => ({ limit, key: request.key })),
      });
      expect(view(a)).toEqual(view(b));
      expect(await configured.peek(request).then(view)).toEqual(
        await adHoc
          .decide({ ...request, cost: 0, checks: definitions.map((limit) => ({ limit, key: request.key })) })
          .then(view),
      );
      clock.advance(7);
    }
  });
});
