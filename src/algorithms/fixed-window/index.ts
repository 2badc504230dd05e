import type { Algorithm } from '../types.js';

/** Counter per window aligned to the epoch (a "1m" window is each calendar minute). */
export interface FixedWindowState {
  start: number;
  count: number;
}

export const fixedWindow: Algorithm<FixedWindowState> = {
  name: 'fixed-window',
  code: 'fw',
  leases: false,
  acceptsBurst: false,
  capacity: (limit) => limit,
  load(stored, now, { windowMs }) {
    const start = Math.floor(now / windowMs) * windowMs;
    return { start, count: stored && stored.start === start ? stored.count : 0 };
  },
  fits(state, now, { limit, windowMs }, cost) {
    if (cost > limit) return { fits: false, retryAfterMs: -1 };
    if (state.count + cost <= limit) return { fits: true, retryAfterMs: 0 };
    return { fits: false, retryAfterMs: state.start + windowMs - now };
  },
  commit(state, _now, _limit, cost) {
    state.count += cost;
  },
  refund(state, _now, _limit, cost) {
    state.count = Math.max(0, state.count - cost);
  },
  view(state, now, { limit, windowMs }) {
    return { remaining: limit - state.count, resetAt: state.count > 0 ? state.start + windowMs : now };
  },
  expiresAt(state, now, { windowMs }) {
    return state.count > 0 ? state.start + windowMs : now;
  },
};

/**
 * Lua half. String kind: the state is one string "start|count|reset marker" read by the script's MGET
 * and written with SET PX, so a decision costs no extra calls per limit beyond that write.
 */
export const fixedWindowLua = `
ALG.fw = {
  kind = 's',
  parse = function(v, now, L, W, X, R)
    local st = { start = math.floor(now / W) * W, count = 0 }
    if v then
      local s, c, g = string.match(v, '^(.-)|(.-)|(.*)$')
      if tonumber(g) >= R and tonumber(s) == st.start then
        st.count = tonumber(c)
        st.s = s -- reused when writing back: number-to-string conversions are the costly part
      end
    end
    return st
  end,
  encode = function(st, Rs)
    return (st.s or st.start) .. '|' .. st.count .. '|' .. Rs
  end,
  -- Within one window the key's TTL (the window's end) does not change.
  keep_ttl = function(st)
    return st.s ~= nil
  end,
  fits = function(st, key, now, L, W, X, cost)
    if cost > L then return false, -1 end
    if st.count + cost <= L then return true, 0 end
    return false, st.start + W - now
  end,
  commit = function(st, key, now, L, W, X, cost, id)
    st.count = st.count + cost
  end,
  refund = function(st, key, now, L, W, X, cost)
    if st.count == 0 then return false end
    st.count = math.max(0, st.count - cost)
    return true
  end,
  view = function(st, key, now, L, W, X)
    if st.count > 0 then return L - st.count, st.start + W end
    return L, now
  end,
  expires = function(st, key, now, L, W, X)
    if st.count > 0 then return st.start + W end
    return now
  end,
}
`;
