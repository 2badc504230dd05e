/**
 * How both stores round what callers see, so the memory store and the Lua script report the same
 * integers: remaining rounds down, instants and waits round up (never tell a client to retry early).
 */
export function roundRemaining(remaining: number): number {
  return Math.max(0, Math.floor(remaining));
}

export function roundInstant(ms: number): number {
  return Math.ceil(ms);
}

/** 0 when it fits, -1 when it never can, else at least 1 ms. */
export function roundWait(fits: boolean, waitMs: number): number {
  if (fits) return 0;
  if (waitMs === -1) return -1;
  return Math.max(1, Math.ceil(waitMs));
}
