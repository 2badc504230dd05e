import type { Decision, Lease, LimitDefinition } from '../core/types.js';
import type { Limiter } from '../limiter.js';
import { type CheckGroup, type Dimension, internLimit } from './checks.js';
import type { LlmUsage, Settlement } from './types.js';

/** Who decided a held decision, to give it back to: the Limiter, or a PolicyLimiter. */
export interface Owner {
  refund(decision: Decision, units?: number): Promise<void>;
  // biome-ignore lint/suspicious/noExplicitAny: a Limiter's Lease or a PolicyLimiter's PolicyLease
  release(lease: any): Promise<void>;
  /** Renews a lease (see Limiter.renew); an owner without it has its leases left to their TTL. */
  renew?(lease: Lease): Promise<Lease | undefined>;
}

/** One admitted decision of a call: its group (each check's reservation is its limit's `cost`). */
export interface Held {
  /** Who decided it (default: the LLM limiter's Limiter). */
  owner?: Owner;
  group: CheckGroup;
  decision: Decision;
  /** The lease it holds now: the decision's, or its latest renewal (see Reservation.keepAlive). */
  lease?: Lease;
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
  private renewal: NodeJS.Timeout | undefined;
  /** A renewal in flight: settlement waits for it (else it would release a lease about to move). */
  private renewing: Promise<void> | undefined;

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
    if (!this.done) {
      clearTimeout(this.renewal);
      const renewing = this.renewing;
      this.done = renewing ? renewing.then(() => this.run(usage)) : this.run(usage);
    }
    return this.done;
  }

  /**
   * Renews the call's slots every third of their shortest lease TTL (a renewal may fail once, a slow
   * store, and the slot still holds) until it is settled, for at most `forMs` (a call that outlasts
   * its lease TTL keeps its slot; one never settled frees it a TTL after `forMs`). A slot found gone
   * (a tenant reset, a store that lost it) is not renewed again. The timer never keeps the process
   * alive.
   */
  keepAlive(forMs: number): void {
    const { limiter } = this.context;
    let renewable = this.held.filter((h) => h.decision.lease && (h.owner === undefined || h.owner.renew));
    const ttls = renewable.map(
      (h) => (h.decision.lease as Lease).expiresAt - (h.decision.lease as Lease).acquiredAt,
    );
    const everyMs = Math.max(1, Math.floor(Math.min(...ttls) / 3));
    if (renewable.length === 0 || forMs < everyMs) return;
    const until = Date.now() + forMs;
    const tick = async () => {
      const lost = new Set<Held>();
      await Promise.all(
        renewable.map(async (h) => {
          const current = (h.lease ?? h.decision.lease) as Lease;
          // A failed renewal (the store did not answer) is tried again at the next tick.
          const owner = h.owner ?? limiter;
          const renewed = await (owner.renew as Limiter['renew']).call(owner, current).catch(() => current);
          if (renewed === undefined) lost.add(h);
          else h.lease = renewed;
        }),
      );
      renewable = renewable.filter((h) => !lost.has(h));
      if (renewable.length > 0 && Date.now() + everyMs <= until) this.schedule(tick, everyMs);
    };
    this.schedule(tick, everyMs);
  }

  private schedule(tick: () => Promise<void>, ms: number): void {
    if (this.done) return;
    this.renewal = setTimeout(() => {
      this.renewing = tick().finally(() => {
        this.renewing = undefined;
      });
    }, ms);
    this.renewal.unref();
  }

  /** The call failed before using anything: every token back (the request stays counted), slot freed. */
  release(): Promise<Settlement> {
    return this.settle({ inputTokens: 0, outputTokens: 0 });
  }

  private async run(usage: LlmUsage): Promise<Settlement> {
    const units = this.context.unitsOf(usage);
    const settlement: Settlement = { refunded: {}, charged: {}, unbilled: {}, costUsd: 0 };
    // The usage record goes alongside the refunds (its own store call, never failing the settlement).
    const recorded = this.context.settled(usage, settlement);
    await Promise.all([recorded, ...this.held.map((held) => this.settleHeld(held, units, settlement))]);
    return settlement;
  }

  /** One held decision: its slot freed, and (where the call settles) its differences settled. */
  private async settleHeld(
    { group, decision, owner, lease }: Held,
    units: Record<Dimension, number>,
    settlement: Settlement,
  ): Promise<void> {
    const { limiter } = this.context;
    const slot = lease ?? decision.lease;
    // The slot, the refund and the excess charges at once: one round trip's wait, not three.
    await Promise.all([
      slot && (owner ?? limiter).release(slot),
      group.settles ? this.settleDifferences(group, decision, units, settlement) : undefined,
    ]);
  }

  /**
   * Per dimension of a decision (every limit of a dimension reserved the same units): what was
   * reserved and not used given back, one refund for all its limits; what was used beyond charged up
   * to the debt.
   */
  private async settleDifferences(
    group: CheckGroup,
    decision: Decision,
    units: Record<Dimension, number>,
    settlement: Settlement,
  ): Promise<void> {
    const reservedAt = (i: number) => decision.limits[i]?.cost ?? decision.cost;
    const back = group.checks.map((c, i) =>
      c.dimension === 'requests' ? 0 : Math.max(0, reservedAt(i) - units[c.dimension]),
    );
    const work: Array<Promise<unknown>> = [];
    if (back.some((u) => u > 0)) work.push(this.context.limiter.refund(decision, back));
    for (const dim of new Set(group.checks.map((c) => c.dimension))) {
      if (dim === 'requests') continue;
      const diff = reservedAt(group.checks.findIndex((c) => c.dimension === dim)) - units[dim];
      if (diff > 0) add(settlement.refunded, dim, diff);
      else if (diff < 0) work.push(this.chargeDimension(group, dim, -diff, settlement));
    }
    await Promise.all(work);
  }

  /** Charges `over` units of one dimension to each of its limits, as far as each one's debt lets it. */
  private async chargeDimension(
    group: CheckGroup,
    dim: Dimension,
    over: number,
    settlement: Settlement,
  ): Promise<void> {
    const debt = this.context.debtOf(dim);
    const checks = group.checks.filter((c) => c.dimension === dim);
    const outcomes = await Promise.all(
      checks.map((c) => chargeExcess(this.context.limiter, group.tenant, c, over, debt)),
    );
    const charged = Math.min(...outcomes);
    add(settlement.charged, dim, charged);
    if (charged < over) add(settlement.unbilled, dim, over - charged);
  }
}

function add(totals: Record<string, number>, dimension: Dimension, units: number): void {
  totals[dimension] = (totals[dimension] ?? 0) + units;
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
