/**
 * Boards: small bounded sorted sets a store keeps beside the limits' states — the index of active
 * tenants, the top rate-limited identities of a tenant, the audit trail. Never on a decision's path:
 * the policy layer flushes them in batches (policy/activity.ts).
 */

/** How `addToBoard` combines a member's new score with the one it has. */
export type BoardMode = 'set' | 'max' | 'add';

export interface BoardWrite {
  /** set: replace; max: keep the higher (last-seen instants); add: increment (counts). */
  readonly mode: BoardMode;
  /** Members kept: past it the lowest scores are dropped. */
  readonly maxMembers: number;
  /** The board expires this long after its last write. */
  readonly ttlMs: number;
}

/** One member of a board and its score. */
export type BoardEntry = readonly [member: string, score: number];

/** Upper bounds of what a board call may carry (they keep every call small). */
export const MAX_BOARD_MEMBERS = 10_000;
export const MAX_BOARD_KEYS = 64;
