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

/** Lua half. String kind: "tat|reset marker". X = burst (capacity). */
export const tokenBucketLua = `
ALG.tb = {
  kind = 's',
  parse = function(v, now, L, W, X, R)
    local st = { tat = now }
    if v then
      local t, g = string.match(v, '^(.-)|(.*)$')
      if tonumber(g) >= R then st.tat = math.max(tonumber(t), now) end
    end
    return st
  end,
  encode = function(st, Rs)
    return num(st.tat) .. '|' .. Rs
  end,
  keep_ttl = function(st)
    return false
  end,
  fits = function(st, key, now, L, W, X, cost)
    if cost > X then return false, -1 end
    local interval = W / L
    local wait = st.tat + cost * interval - now - X * interval
    if wait <= 1e-6 then return true, 0 end
    return false, wait
  end,
  commit = function(st, key, now, L, W, X, cost, id)
    st.tat = st.tat + cost * W / L
  end,
  refund = function(st, key, now, L, W, X, cost)
    if st.tat <= now then return false end
    st.tat = math.max(now, st.tat - cost * W / L)
    return true
  end,
  view = function(st, key, now, L, W, X)
    local interval = W / L
    local remaining = math.floor((X * interval - (st.tat - now)) / interval + 1e-6)
    return math.min(X, math.max(0, remaining)), st.tat
  end,
  expires = function(st, key, now, L, W, X)
    return st.tat
  end,
}
`;
