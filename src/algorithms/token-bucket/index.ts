import type { Algorithm } from '../types.js';

/**
 * Token bucket as GCRA: `limit` tokens per `window` refill, capacity `burst`. The only state is the
 * theoretical arrival time (TAT): the instant the bucket would be full again. One number per key.
 */
export interface TokenBucketState {
  tat: number;
}

/** Float slack so that `burst` back-to-back admissions at one instant all fit despite rounding. */
const EPSILON = 1e-6;

export const tokenBucket: Algorithm<TokenBucketState> = {
  name: 'token-bucket',
  code: 'tb',
  leases: false,
  acceptsBurst: true,
  capacity: (limit, burst) => burst ?? limit,
  load(stored, now) {
    return { tat: stored ? Math.max(stored.tat, now) : now };
  },
  fits(state, now, { limit, windowMs, capacity }, cost) {
    if (cost > capacity) return { fits: false, retryAfterMs: -1 };
    const interval = windowMs / limit;
    const wait = state.tat + cost * interval - now - capacity * interval;
    if (wait <= EPSILON) return { fits: true, retryAfterMs: 0 };
    return { fits: false, retryAfterMs: wait };
  },
  commit(state, _now, { limit, windowMs }, cost) {
    state.tat += (cost * windowMs) / limit;
  },
  refund(state, now, { limit, windowMs }, cost) {
    state.tat = Math.max(now, state.tat - (cost * windowMs) / limit);
  },
  view(state, now, { limit, windowMs, capacity }) {
    const interval = windowMs / limit;
    const remaining = Math.floor((capacity * interval - (state.tat - now)) / interval + EPSILON);
    return { remaining: Math.min(capacity, Math.max(0, remaining)), resetAt: state.tat };
  },
  expiresAt: (state) => state.tat,
};

/**
 * Lua half: a template in sections that the Redis store inlines for every token-bucket limit of a
 * script (see stores/redis/scripts.ts). String kind: "tat|reset marker". X@ = burst (capacity). The
 * TAT is fractional, so it is written with all 17 digits (num).
 */
export const tokenBucketLua = `
--- state: tat
--- parse
tat@ = now
if V@ then
  local t, g = string.match(V@, '^([^|]*)|(.*)$')
  if g == Rs or tonumber(g) >= R then tat@ = max(tonumber(t), now) end
end
--- fits
if cost > X@ then w@ = -1
else
  local interval = W@ / L@
  local wait = tat@ + cost * interval - now - X@ * interval
  if not (wait <= 1e-6) then w@ = wait end
end
--- commit
tat@ = tat@ + cost * W@ / L@
--- refundable
tat@ > now
--- refund
tat@ = max(now, tat@ - cost * W@ / L@)
--- remaining
min(X@, max(0, floor((X@ * (W@ / L@) - (tat@ - now)) / (W@ / L@) + 1e-6)))
--- expires
tat@
--- encode
num(tat@) .. '|' .. Rs
`;
