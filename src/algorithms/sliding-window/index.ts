import type { Algorithm } from '../types.js';

/**
 * Sliding-window counter: the current fixed window's count plus the previous window's count weighted
 * by how much of it still overlaps the sliding window. O(1) memory, approximate (it assumes the
 * previous window's requests were spread evenly), never admits more than `limit` per fixed window.
 */
export interface SlidingWindowState {
  start: number;
  current: number;
  previous: number;
}

function used(state: SlidingWindowState, now: number, windowMs: number): number {
  return (state.previous * (windowMs - (now - state.start))) / windowMs + state.current;
}

function fullAt(state: SlidingWindowState, now: number, windowMs: number): number {
  if (state.current > 0) return state.start + 2 * windowMs;
  if (state.previous > 0) return state.start + windowMs;
  return now;
}

export const slidingWindow: Algorithm<SlidingWindowState> = {
  name: 'sliding-window',
  code: 'sw',
  leases: false,
  acceptsBurst: false,
  capacity: (limit) => limit,
  load(stored, now, { windowMs }) {
    const start = Math.floor(now / windowMs) * windowMs;
    if (stored && stored.start === start)
      return { start, current: stored.current, previous: stored.previous };
    if (stored && stored.start === start - windowMs) return { start, current: 0, previous: stored.current };
    return { start, current: 0, previous: 0 };
  },
  fits(state, now, { limit, windowMs }, cost) {
    if (cost > limit) return { fits: false, retryAfterMs: -1 };
    if (used(state, now, windowMs) + cost <= limit) return { fits: true, retryAfterMs: 0 };
    const elapsed = now - state.start;
    if (state.current + cost <= limit) {
      // Wait inside this window until the previous window's weight has decayed enough.
      const at = windowMs - ((limit - state.current - cost) * windowMs) / state.previous;
      return { fits: false, retryAfterMs: at - elapsed };
    }
    // Wait for the next window, where this window's count becomes the decaying previous one.
    const at = Math.max(0, windowMs - ((limit - cost) * windowMs) / state.current);
    return { fits: false, retryAfterMs: state.start + windowMs - now + at };
  },
  commit(state, _now, _limit, cost) {
    state.current += cost;
  },
  refund(state, _now, _limit, cost) {
    state.current = Math.max(0, state.current - cost);
  },
  view(state, now, { limit, windowMs }) {
    return {
      remaining: Math.max(0, limit - used(state, now, windowMs)),
      resetAt: fullAt(state, now, windowMs),
    };
  },
  expiresAt: (state, now, { windowMs }) => fullAt(state, now, windowMs),
};

/** Lua half. String kind: "start|current|previous|reset marker". */
export const slidingWindowLua = `
local function sw_used(st, now, W)
  return st.prev * (W - (now - st.start)) / W + st.cur
end
local function sw_expires(st, now, W)
  if st.cur > 0 then return st.start + 2 * W end
  if st.prev > 0 then return st.start + W end
  return now
end
ALG.sw = {
  kind = 's',
  parse = function(v, now, L, W, X, R)
    local st = { start = math.floor(now / W) * W, cur = 0, prev = 0 }
    if v then
      local s_text, c, p, g = string.match(v, '^(.-)|(.-)|(.-)|(.*)$')
      if tonumber(g) >= R then
        local s = tonumber(s_text)
        if s == st.start then
          st.cur = tonumber(c); st.prev = tonumber(p)
          st.s = s_text -- reused when writing back: number-to-string conversions are the costly part
          st.p = p
          st.keep = st.cur > 0
        elseif s == st.start - W then st.prev = tonumber(c) end
      end
    end
    return st
  end,
  encode = function(st, Rs)
    return (st.s or st.start) .. '|' .. st.cur .. '|' .. (st.p or st.prev) .. '|' .. Rs
  end,
  -- Within one window, once it has a count, the TTL (two windows past its start) does not change.
  keep_ttl = function(st)
    return st.keep
  end,
  fits = function(st, key, now, L, W, X, cost)
    if cost > L then return false, -1 end
    if sw_used(st, now, W) + cost <= L then return true, 0 end
    local elapsed = now - st.start
    if st.cur + cost <= L then
      return false, (W - (L - st.cur - cost) * W / st.prev) - elapsed
    end
    return false, st.start + W - now + math.max(0, W - (L - cost) * W / st.cur)
  end,
  commit = function(st, key, now, L, W, X, cost, id)
    st.cur = st.cur + cost
  end,
  refund = function(st, key, now, L, W, X, cost)
    if st.cur == 0 then return false end
    st.cur = math.max(0, st.cur - cost)
    return true
  end,
  view = function(st, key, now, L, W, X)
    return math.max(0, L - sw_used(st, now, W)), sw_expires(st, now, W)
  end,
  expires = function(st, key, now, L, W, X)
    return sw_expires(st, now, W)
  end,
}
`;
