import type { Decision, LimitDefinition } from '../core/types.js';
import type { Limiter } from '../limiter.js';
import { type CheckGroup, type Dimension, internLimit } from './checks.js';
import type { LlmUsage, Settlement } from './types.js';

/** One admitted decision of a call: its group and the units it reserved. */
/** Who decided a held decision, to give it back to: the Limiter, or a PolicyLimiter. */
export interface Owner {
  refund(decision: Decision, units?: number): Promise<void>;
  // biome-ignore lint/suspicious/noExplicitAny: a Limiter's Lease or a PolicyLimiter's PolicyLease
  release(lease: any): Promise<void>;
}

export interface Held {
  /** Who decided it (default: the LLM limiter's Limiter). */
  owner?: Owner;
  group: CheckGroup;
  decision: Decision;
  reserved: number;
}

/** What settlement needs from the limiter that made the reservation. */
export interface SettleContext {
  limiter: Limiter;
  /** Debt per dimension: how far past a limit's size an excess may be charged. */
  debtOf(dimension: Dimension): number;
  /** The call's units per dimension for this usage (tokens, input, output, cost units). */
  unitsOf(usage: LlmUsage): Record<Dimension, number>;
  /**
   * Told as the call settles (output estimator, observer; the usage write, which runs alongside the
   * refunds and never rejects).
   */
  settled(usage: LlmUsage, settlement: Settlement): Promise<void> | void;
}

/**
 * A call's reservation: what it holds on every limit until it is settled with the usage the provider
 * reported (`settle`), or released having used nothing (`release`). Settling twice does nothing.
 */
export class Reservation {
  private done: Promise<Settlement> | undefined;

  constructor(
    private readonly context: SettleContext,
    readonly held: readonly Held[],
    /** Units reserved per dimension. */
    readonly reserved: Readonly<Partial<Record<Dimension, number>>>,
    /** Output tokens reserved and whether that was an estimate (no bound given). */
    readonly output: { tokens: number; estimated: boolean },
  ) {}

  get settled(): boolean {
    return this.done !== undefined;
  }

  /** Gives back what the call did not use, charges what it used beyond, frees its slot. */
  settle(usage: LlmUsage): Promise<Settlement> {
    if (!this.done) this.done = this.run(usage);
    return this.done;
  }

  /** The call failed before using anything: every token back (the request stays counted), slot freed. */
  release(): Promise<Settlement> {
    return this.settle({ inputTokens: 0, outputTokens: 0 });
  }

  private async run(usage: LlmUsage): Promise<Settlement> {
    const { limiter } = this.context;
    const units = this.context.unitsOf(usage);
    const settlement: Settlement = { refunded: {}, charged: {}, unbilled: {}, costUsd: 0 };
    const recorded = this.context.settled(usage, settlement);
    await Promise.all([
      recorded,
      ...this.held.map(async ({ group, decision, reserved, owner }) => {
        if (decision.lease) await (owner ?? limiter).release(decision.lease);
        if (!group.settles) return;
        const used = units[group.dimension];
        const dim = group.dimension;
        if (used < reserved) {
          await limiter.refund(decision, reserved - used);
          settlement.refunded[dim] = (settlement.refunded[dim] ?? 0) + reserved - used;
        } else if (used > reserved) {
          const debt = this.context.debtOf(dim);
          const outcomes = await Promise.all(
            group.checks.map((c) => chargeExcess(limiter, group.tenant, c, used - reserved, debt)),
          );
          const charged = Math.min(...outcomes);
          settlement.charged[dim] = (settlement.charged[dim] ?? 0) + charged;
          if (charged < used - reserved)
            settlement.unbilled[dim] = (settlement.unbilled[dim] ?? 0) + used - reserved - charged;
        }
      }),
    ]);
    return settlement;
  }
}

/**
 * Charges `excess` units to one limit after the fact, letting it go past its size by at most `debt`:
 * the same counter (a counter is named by its limit's name, algorithm and window, not its size),
 * decided with size `limit + debt`. What does not fit is charged as far as it fits. Returns the units
 * charged. So a window never counts more than `limit + debt`: reservations are admitted only within
 * `limit`, excess charges only within `limit + debt`.
 */
async function chargeExcess(
  limiter: Limiter,
  tenant: string,
  check: { limit: LimitDefinition & { name: string; limit: number }; key?: string },
  excess: number,
  debt: number,
): Promise<number> {
  const limit = internLimit({ ...check.limit, limit: check.limit.limit + debt });
  let want = excess;
  for (let attempt = 0; attempt < 3 && want > 0; attempt++) {
    const decision = await limiter.decide({ tenant, checks: [{ limit, key: check.key }], cost: want });
    if (decision.allowed) return want;
    const room = decision.limits[0]?.remaining ?? 0;
    if (room <= 0) return 0;
    want = Math.min(want, room);
  }
  return 0;
}
