/**
 * Over-admission check of the hot-key scenario: every decision's key, outcome and timing are tallied
 * per key, and the admitted count of each key is compared with the most its limits could allow.
 *
 * The bound is generic, so it holds for every contender whatever its windows' alignment: a key whose
 * decisions were sent and answered within `span` ms touches at most floor(span / W) + 2 windows of
 * length W (fixed windows aligned to the epoch or started by the first hit alike), and a correct limiter
 * admits at most `limit` in each. A sliding log, a sliding-window counter (its current window alone
 * holds at most `limit`) and a token bucket (burst `limit`, refilling `limit` per W) admit no more. A
 * contender with several windows of one limit is bound by its longest window (the tightest bound).
 */
import type { Pick } from './spread-keys.js';

export interface AdmissionCheck {
  /** Keys that got at least one decision. */
  keys: number;
  decisions: number;
  admitted: number;
  /** The most decisions admitted on one key, and what one window allows. */
  maxAdmittedPerKey: number;
  limitPerWindow: number;
  /**
   * Keys admitted more than one window's limit: legitimate when a window boundary fell inside the key's
   * burst (up to twice the limit), so informative only; a share far above the boundary odds is suspect.
   */
  keysOverLimit: number;
  /** Keys on which more were admitted than the bound allows, and by how many in all (must be 0). */
  keysOverBound: number;
  overAdmitted: number;
  /** The worst key: admitted, bound, and its decisions' span in ms (null when none is over). */
  worst: { key: number; admitted: number; bound: number; spanMs: number } | null;
}

export class AdmissionTracker {
  private readonly firstSent: number[] = [];
  private readonly lastAnswered: number[] = [];
  private readonly admitted: number[] = [];
  private readonly decided: number[] = [];

  constructor(
    private readonly limit: number,
    private readonly longestWindowMs: number,
  ) {}

  /** Decides through `decide` and tallies the outcome under the pick's key number. */
  track(pick: Pick, decide: (pick: Pick) => Promise<boolean>): Promise<boolean> {
    const i = pick.index;
    if (this.firstSent[i] === undefined) this.firstSent[i] = performance.now();
    return decide(pick).then((ok) => {
      this.lastAnswered[i] = performance.now();
      this.decided[i] = (this.decided[i] ?? 0) + 1;
      if (ok) this.admitted[i] = (this.admitted[i] ?? 0) + 1;
      return ok;
    });
  }

  check(): AdmissionCheck {
    const result: AdmissionCheck = {
      keys: 0,
      decisions: 0,
      admitted: 0,
      maxAdmittedPerKey: 0,
      limitPerWindow: this.limit,
      keysOverLimit: 0,
      keysOverBound: 0,
      overAdmitted: 0,
      worst: null,
    };
    this.firstSent.forEach((first, key) => {
      const admitted = this.admitted[key] ?? 0;
      const spanMs = (this.lastAnswered[key] ?? first) - first;
      const bound = this.limit * (Math.floor(spanMs / this.longestWindowMs) + 2);
      result.keys++;
      result.decisions += this.decided[key] ?? 0;
      result.admitted += admitted;
      result.maxAdmittedPerKey = Math.max(result.maxAdmittedPerKey, admitted);
      if (admitted > this.limit) result.keysOverLimit++;
      if (admitted <= bound) return;
      result.keysOverBound++;
      result.overAdmitted += admitted - bound;
      if (!result.worst || admitted - bound > result.worst.admitted - result.worst.bound) {
        result.worst = { key, admitted, bound, spanMs: Math.round(spanMs) };
      }
    });
    return result;
  }
}
