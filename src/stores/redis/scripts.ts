import { createHash } from 'node:crypto';
import { ALGORITHMS, LUA_FRAGMENTS } from '../../algorithms/index.js';
import type { NormalizedLimit } from '../../core/types.js';

/**
 * The Lua scripts. Each operation is one script covering every limit of the call, so a decision is one
 * round trip and atomic. Time comes only from the Redis server's TIME, in whole milliseconds.
 *
 * Decisions, refunds and releases are generated per *layout*: the ordered algorithm codes of the call's
 * limits (and, for decisions, the number of block markers and the penalty mode). Each script is
 * straight-line Lua: every limit's part is its algorithm's fragment inlined with that limit's own
 * variables, so a call builds no tables or closures per limit and dispatches on nothing; only the
 * numbers that vary per call or per limit (cost, limit, window, capacity) travel as arguments. That is
 * most of the speed of a hand-written script for one algorithm, and Redis compiles each layout once.
 *
 * Fragments (src/algorithms/<name>/, beside the TypeScript half they mirror) are Lua in sections,
 * each opened by a line "--- <name>":
 *
 *   state: a, b      the limit's state variables (declared by the script, initially nil)
 *   parse            string states: the state from V@, the stored string (false when absent)
 *   load             sorted-set states: trim and read the state from the key itself
 *   fits             leave w@ false if `cost` fits now; else set it to the wait in ms (-1: never)
 *   commit           consume `cost`
 *   helpers          Lua functions the other sections call: emitted once per script, not per limit
 *   mark             expression: the limit's mark after the decision (token bucket: its TAT's ticks)
 *   refund           give back U@ units of decision `id` made at `at` (RA@ / MK@: the limit's reset
 *                    instant and mark right after it; RF@: units refunded before, from the ledger)
 *   until            expression: the instant after which a refund of that decision changes nothing
 *   release          (lease algorithms) remove the entry of lease `id` acquired at `at`
 *   remaining        expression: units left (the script rounds down)
 *   expires          expression: the instant the state is empty again: the key's TTL, and the
 *                    limit's reset instant (back to full capacity), which is the same instant
 *   encode           string states, expression: the string to store
 *   keep             string states, optional expression: the key's TTL is unchanged by this write
 *                    (SET KEEPTTL, which saves a number-to-string conversion)
 *
 * A fragment with `parse` is a string state (read by the script's one MGET, written with SET, its TTL
 * with PX); one with `load` is a sorted set (TTL with PEXPIRE). In fragments, `name@` is the limit's
 * own variable `name` (a state variable, L@ limit, W@ window ms, X@ capacity, w@ wait); KEY@ is its key.
 * Also in scope: now, cost, id (decision or lease id), R / Rs (the tenant's reset marker as a number /
 * as stored), int(x) (a whole number as a string: much cheaper than `..` or %.17g), num(x) (any
 * number, 17 digits), and floor, ceil, max, min (math's, as locals: cheaper than math.max). Expression
 * sections may be preceded by comment lines.
 *
 * Tenant meta key: the string "r|b": r = reset marker (ms; string states written before it are void,
 * log entries older than it are dropped), b = tenant blocked until (ms). Block keys hold "until".
 * Rounding matches stores/rounding.ts: remaining down, instants and waits up.
 */

/** The only clock: replaced by a pinned instant in the differential tests, so it is one exported line. */
export const SERVER_CLOCK_LUA =
  "local clock = redis.call('TIME')\nlocal now = clock[1] * 1000 + (clock[2] - clock[2] % 1000) / 1000";

/** Meta "r|b": the reset marker R, the tenant's block `blocked`, and Rs, r as stored (written back as is). */
const PARSE_META = `local R, blocked, Rs = 0, 0, '0'
if meta then
  local r, b = string.match(meta, '^([^|]*)|(.*)$')
  R, blocked, Rs = tonumber(r), tonumber(b), r
end
`;

// ---------------------------------------------------------------------------------------------------
// Fragments

interface Fragment {
  readonly code: string;
  /** 'string': one string, read by the MGET and written with SET; 'zset': a sorted set. */
  readonly kind: 'string' | 'zset';
  readonly state: readonly string[];
  /** Whether its algorithm holds leases (concurrency): penalties skip it, releases only touch it. */
  readonly leases: boolean;
  /** Whether the fragment uses X@ (capacity): only then is it passed (elsewhere capacity = limit). */
  readonly usesCapacity: boolean;
  readonly sections: ReadonlyMap<string, string>;
  /** Lua functions used by the sections (its `helpers` section), emitted once per script. */
  readonly helpers: string;
}

const SECTION_LINE = /^--- (\w+)(?::(.*))?$/;
const EXPRESSIONS = new Set(['mark', 'until', 'remaining', 'expires', 'encode', 'keep']);
const REQUIRED = ['fits', 'commit', 'mark', 'refund', 'until', 'remaining', 'expires'];
/**
 * Per-limit variables every fragment may use besides its state: parameters, the wait, and in refund
 * scripts the receipt's reset instant and mark, the ledger's refunded units and the units to refund.
 */
const LIMIT_VARIABLES = ['L', 'W', 'X', 'w', 'RA', 'MK', 'RF', 'U'];
const PLACEHOLDER = /\b([A-Za-z_]\w*)@/g;

function parseFragment(code: string, text: string): Fragment {
  const sections = new Map<string, string[]>();
  let state: string[] = [];
  let lines: string[] | undefined;
  for (const line of text.split('\n')) {
    const header = SECTION_LINE.exec(line);
    if (!header) lines?.push(line);
    else if (header[1] === 'state') {
      state = (header[2] ?? '').split(',').map((name) => name.trim());
      lines = undefined;
    } else {
      lines = [];
      sections.set(header[1] as string, lines);
    }
  }
  const fail = (why: string) => new Error(`Lua fragment ${code}: ${why}`);
  const reserved = /\b[A-Za-z]\w*_(?!\w)/.exec(text.replace(PLACEHOLDER, ''));
  if (reserved) throw fail(`"${reserved[0]}": names ending in "_" are the batch script's own`);
  const kind = sections.has('parse') ? 'string' : 'zset';
  const needed = [...REQUIRED, ...(kind === 'string' ? ['encode'] : ['load'])];
  for (const name of needed) if (!sections.has(name)) throw fail(`no "--- ${name}" section`);
  const known = new Set([...state, ...LIMIT_VARIABLES, 'KEY', ...(kind === 'string' ? ['V'] : [])]);
  const texts = new Map<string, string>();
  for (const [name, body] of sections) {
    for (const [, variable] of body.join('\n').matchAll(PLACEHOLDER)) {
      if (!known.has(variable as string)) throw fail(`${name} uses ${variable}@, not a declared variable`);
    }
    if (name === 'helpers') continue;
    if (!EXPRESSIONS.has(name)) {
      texts.set(name, body.join('\n').trim());
      continue;
    }
    // An expression: its comment lines dropped, so that it can be inlined anywhere.
    const expression = body
      .filter((line) => !line.trim().startsWith('--'))
      .join(' ')
      .trim();
    if (expression.includes('--')) throw fail(`expression ${name} has a trailing comment`);
    texts.set(name, expression);
  }
  const helpers = (sections.get('helpers') ?? []).join('\n').trim();
  if (PLACEHOLDER.test(helpers)) throw fail('helpers must not use placeholders');
  PLACEHOLDER.lastIndex = 0;
  texts.delete('helpers');
  const leases = Object.values(ALGORITHMS).some((a) => a.code === code && a.leases);
  return { code, kind, state, leases, usesCapacity: /\bX@/.test(text), sections: texts, helpers };
}

const FRAGMENTS: ReadonlyMap<string, Fragment> = new Map(
  Object.entries(LUA_FRAGMENTS).map(([code, text]) => [code, parseFragment(code, text)]),
);

function fragment(code: string): Fragment {
  const found = FRAGMENTS.get(code);
  if (!found) throw new Error(`no Lua fragment for algorithm code ${code}`);
  return found;
}

/** One limit's script arguments: limit and window ms, then capacity if its algorithm uses it. */
export function limitArgs(code: string, limit: NormalizedLimit): string[] {
  const args = [String(limit.limit), String(limit.windowMs)];
  if (fragment(code).usesCapacity) args.push(String(limit.capacity));
  return args;
}

/** Whether a decide script takes the decision id (ARGV[2]): sorted-set states name entries by it. */
export function decideTakesId(codes: readonly string[]): boolean {
  return codes.some((code) => fragment(code).kind === 'zset');
}

// ---------------------------------------------------------------------------------------------------
// Generation

/**
 * Lua allows 200 local variables per function. Layouts whose limits would need more than this many
 * (leaving room for the script's own) keep each limit's variables in a table (`lim[i].count`) instead
 * of locals (`count_i`): a little slower, the same Lua otherwise.
 */
const MAX_LIMIT_LOCALS = 120;
/** Above this many keys, the MGET takes them from a table (a call's arguments take one register each). */
const MAX_MGET_ARGS = 50;

/** One limit of a layout, as the generator places it. */
interface Slot {
  /** 1-based position in the layout (and in the reply). */
  readonly i: number;
  readonly fragment: Fragment;
  /** Its key's index in KEYS. */
  readonly key: number;
  /** Lua expression of its stored string (string states). */
  value: string;
  /** Index in ARGV of its first parameter. */
  readonly arg: number;
}

class Generator {
  private readonly slots: Slot[];
  /** Whether the limits' variables live in a table rather than in locals (see MAX_LIMIT_LOCALS). */
  private readonly inTable: boolean;

  /**
   * @param deferred string states are read and written through the batch script's write-behind
   *   helpers (see WRITE_BEHIND) instead of directly.
   */
  /** Parameters each limit reads from ARGV after its own (refund scripts: the receipt's RA, MK). */
  private readonly extraParams: readonly string[];

  /**
   * @param deferred string states are read and written through the batch script's write-behind
   *   helpers (see WRITE_BEHIND) instead of directly.
   * @param keyStride KEYS per limit (refund scripts: the state key, then its ledger key).
   */
  constructor(
    codes: readonly string[],
    firstKey: number,
    firstArg: number,
    readonly deferred = false,
    keyStride = 1,
    extraParams: readonly string[] = [],
  ) {
    this.extraParams = extraParams;
    let arg = firstArg;
    this.slots = codes.map((code, index) => {
      const f = fragment(code);
      const slot = { i: index + 1, fragment: f, key: firstKey + index * keyStride, value: '', arg };
      arg += (f.usesCapacity ? 3 : 2) + extraParams.length;
      return slot;
    });
    const locals = this.slots.reduce((n, s) => n + s.fragment.state.length + 4 + extraParams.length + 2, 0);
    this.inTable = locals > MAX_LIMIT_LOCALS;
  }

  get limits(): readonly Slot[] {
    return this.slots;
  }

  /** The limit's variable `name`. */
  variable(slot: Slot, name: string): string {
    return this.inTable ? `lim[${slot.i}].${name}` : `${name}_${slot.i}`;
  }

  /** A section of the limit's fragment with its placeholders filled in. */
  section(slot: Slot, name: string): string {
    const text = slot.fragment.sections.get(name);
    if (text === undefined)
      throw new Error(`Lua fragment ${slot.fragment.code} has no "--- ${name}" section`);
    return text.replace(PLACEHOLDER, (_, variable: string) =>
      variable === 'KEY'
        ? `KEYS[${slot.key}]`
        : variable === 'V'
          ? slot.value
          : this.variable(slot, variable),
    );
  }

  /** Declares the limit's parameters (from ARGV), its wait and its state variables. */
  declare(slot: Slot, variables: readonly string[] = []): string {
    const params = [...(slot.fragment.usesCapacity ? ['L', 'W', 'X'] : ['L', 'W']), ...this.extraParams];
    const values = params.map((_, k) => `tonumber(ARGV[${slot.arg + k}])`);
    const names = [...params, 'w', ...variables, ...slot.fragment.state];
    if (this.inTable) {
      const fields = params.map((p, k) => `${p} = ${values[k]}`).join(', ');
      return `lim[${slot.i}] = { ${fields}, w = false }`;
    }
    return `local ${names.map((n) => this.variable(slot, n)).join(', ')} = ${values.join(', ')}, false`;
  }

  /**
   * The prelude of every script: the clock, then the helpers the body uses (locals: a global lookup
   * per use costs more than defining them), and the table of limit variables if needed.
   */
  prelude(body: string): string {
    const lines = [SERVER_CLOCK_LUA];
    // Helpers of the fragments present, once each (sliding-log and concurrency share theirs).
    const helpers = [...new Set(this.slots.map((s) => s.fragment.helpers).filter((h) => h !== ''))];
    const code = [...helpers, body].join('\n');
    const math = ['floor', 'ceil', 'max', 'min'].filter((f) => new RegExp(`\\b${f}\\(`).test(code));
    const names = ['tonumber', ...math];
    lines.push(`local ${names.join(', ')} = tonumber${math.map((f) => `, math.${f}`).join('')}`);
    if (/\b(int|num)\(/.test(code)) lines.push('local fmt = string.format');
    if (/\bint\(/.test(code)) lines.push("local function int(x) return fmt('%d', x) end");
    if (/\bnum\(/.test(code)) lines.push("local function num(x) return fmt('%.17g', x) end");
    lines.push(...helpers);
    if (this.inTable) lines.push('local lim = {}');
    return lines.join('\n');
  }

  /**
   * Writes the state back with its TTL (the instant it is empty again), or deletes it if it is empty.
   * `keep`: the write may keep the key's current TTL when the fragment says it is unchanged.
   */
  save(slot: Slot, keep: boolean): string {
    const key = `KEYS[${slot.key}]`;
    const ttl = 'int(ceil(exp - now))';
    const deferred = this.deferred && slot.fragment.kind === 'string';
    const lines = [
      `local exp = ${this.section(slot, 'expires')}`,
      `if exp <= now then ${deferred ? `del_(${key})` : `redis.call('DEL', ${key})`}`,
    ];
    if (slot.fragment.kind === 'zset') {
      lines.push(`else redis.call('PEXPIRE', ${key}, ${ttl}) end`);
    } else {
      const encoded = this.section(slot, 'encode');
      const set = (ttlArgs: string, deferredTtl: string) =>
        deferred
          ? `set_(${key}, ${encoded}, ${deferredTtl})`
          : `redis.call('SET', ${key}, ${encoded}, ${ttlArgs})`;
      if (keep && slot.fragment.sections.has('keep')) {
        lines.push(`elseif ${this.section(slot, 'keep')} then ${set("'KEEPTTL'", 'false')}`);
      }
      lines.push(`else ${set(`'PX', ${ttl}`, ttl)} end`);
    }
    return block(lines.join('\n'));
  }

  /** Reads the limit's state: from its stored string, or from its sorted set. */
  read(slot: Slot): string {
    return block(this.section(slot, slot.fragment.kind === 'string' ? 'parse' : 'load'));
  }
}

/** A `do ... end` block: the section's own locals end with it. */
function block(lua: string): string {
  return `do\n${indent(lua)}\nend`;
}

function indent(lua: string): string {
  return lua.replace(/^(?=.)/gm, '  ');
}

/** `redis.call('MGET', ...)` of these KEYS indexes (`mget_(...)`: through the write-behind cache). */
function mget(keys: readonly number[], deferred = false): string {
  const list = keys.map((k) => `KEYS[${k}]`).join(', ');
  const call = deferred ? 'mget_(' : "redis.call('MGET', ";
  return keys.length <= MAX_MGET_ARGS ? `${call}${list})` : `${call}unpack({ ${list} }))`;
}

/**
 * The batch script's write-behind for string states: a key is read from Redis at most once per batch
 * (later reads see the batch's own writes) and written once, at the end, with the TTL of its last
 * `PX` write (one `now` for the whole batch, so the same expiry instant) or kept (`KEEPTTL`). Sorted
 * sets are read and written directly. Helpers named with a trailing underscore, like the batch's own
 * variables.
 *
 * Each decision's writes are staged (own_, its values; staged_, its pending writes) and merged into
 * the batch's (cache_, pending_) only when the decision succeeds (commit_); a decision that fails has
 * them discarded (discard_), so it leaves nothing behind for the batch to write.
 */
const WRITE_BEHIND = `local cache_, pending_ = {}, {}
local own_, staged_ = {}, {}
local function mget_(...)
  local keys_ = { ... }
  local values_, missing_ = {}, nil
  for i_ = 1, #keys_ do
    local v_ = own_[keys_[i_]]
    if v_ == nil then v_ = cache_[keys_[i_]] end
    if v_ == nil then
      missing_ = missing_ or {}
      missing_[#missing_ + 1] = i_
    else
      values_[i_] = v_
    end
  end
  if missing_ then
    local names_ = {}
    for j_ = 1, #missing_ do names_[j_] = keys_[missing_[j_]] end
    local got_ = redis.call('MGET', unpack(names_))
    for j_ = 1, #missing_ do
      cache_[names_[j_]] = got_[j_]
      values_[missing_[j_]] = got_[j_]
    end
  end
  return values_
end
local function set_(key_, value_, ttl_)
  own_[key_] = value_
  local p_ = staged_[key_]
  if p_ and not ttl_ then p_[1] = value_ else staged_[key_] = { value_, ttl_ } end
end
local function del_(key_)
  own_[key_] = false
  staged_[key_] = false
end
local function pttl_(key_)
  local d_, p_ = staged_[key_], pending_[key_]
  if d_ == false then return -2 end
  if d_ then
    if d_[2] then return tonumber(d_[2]) end
  elseif p_ == false then return -2 end
  if p_ and p_[2] then return tonumber(p_[2]) end
  return redis.call('PTTL', key_)
end
local function commit_()
  for key_, d_ in pairs(staged_) do
    local p_ = pending_[key_]
    if d_ and not d_[2] and p_ then p_[1] = d_[1] else pending_[key_] = d_ end
    cache_[key_] = own_[key_]
    own_[key_], staged_[key_] = nil, nil
  end
end
local function discard_()
  for key_ in pairs(staged_) do own_[key_], staged_[key_] = nil, nil end
end`;

const WRITE_BEHIND_FLUSH = `for key_, p_ in pairs(pending_) do
  if not p_ then redis.call('DEL', key_)
  elseif p_[2] then redis.call('SET', key_, p_[1], 'PX', p_[2])
  else redis.call('SET', key_, p_[1], 'KEEPTTL') end
end`;

export interface DecideLayout {
  /** The limits' algorithm codes, in the plan's order. */
  readonly codes: readonly string[];
  /** How many block markers the decision honours. */
  readonly blockKeys: number;
  /** Penalty mode: limits with room are charged even when the decision is rejected. */
  readonly penalty: boolean;
}

/**
 * The decide script of a layout.
 * KEYS: meta, the block markers, then one state key per limit.
 * ARGV: cost, the decision id (only if a limit has a sorted-set state), then per limit: limit, window
 * ms, and capacity for the algorithms that use it.
 * Returns: blocked-until (0: not blocked), now, then per limit: retry-after (0: fits, -1: never),
 * remaining, reset-at, mark (see the fragment sections). The decision is admitted when it is not blocked and every limit fits.
 */
export function decideSource(layout: DecideLayout): string {
  const { g, body, reply } = decideParts(layout);
  body.push(`return {\n${indent(reply.join(',\n'))}\n}`);
  return assemble(decideTitle(layout), g, body);
}

/** Reply items per limit of a decision: retry-after, remaining, reset-at, mark. */
export const REPLY_PER_LIMIT = 4;

/** How many KEYS, ARGV and reply items one decision of a layout has. */
export function decideShape({ codes, blockKeys }: DecideLayout): {
  keys: number;
  args: number;
  reply: number;
} {
  const args = codes.reduce(
    (n, code) => n + (fragment(code).usesCapacity ? 3 : 2),
    decideTakesId(codes) ? 2 : 1,
  );
  return { keys: 1 + blockKeys + codes.length, args, reply: 2 + REPLY_PER_LIMIT * codes.length };
}

/**
 * The batch variant of a layout's decide script: any number of decisions of that layout in one call,
 * decided one after the other, each exactly as `decideSource` decides it (at one `now`, read once).
 * Lets a store coalesce the decisions of one event-loop turn into one script call, so that the client
 * and Redis pay a call's fixed cost once per batch.
 *
 * What decisions of one request shape share (their keys and their limits' arguments) is sent once:
 * KEYS: each shape's keys (as for decideSource), shape after shape.
 * ARGV: the number of shapes; each shape's limit arguments; then per decision: its shape (0-based),
 * its cost, and its id if the layout takes one.
 * Returns every decision's reply (as decideSource's), one after the other.
 *
 * Each decision runs in isolation (pcall): one that raises an error (a key of the wrong type, a state
 * it cannot read) fails alone. Its reply is then the error marker: the error's message as a string in
 * place of its blocked-until, then zeros (its reply keeps its size, so the others' offsets hold); its
 * string writes are discarded (see WRITE_BEHIND) and the other decisions commit as usual. A decision
 * reads every state before it writes any, so such an error comes before its sorted-set writes too.
 */
export function decideBatchSource(layout: DecideLayout): string {
  const { g, body, reply } = decideParts(layout, true);
  const shape = decideShape(layout);
  const own = decideTakesId(layout.codes) ? 2 : 1; // cost, then the id: the decision's own ARGV
  const shared = shape.args - own; // the limits' arguments: the shape's
  // The single-decision body reading its KEYS from its shape's and its ARGV from its own or its
  // shape's (offsets named with a trailing underscore: no fragment variable is).
  const shift = (lua: string) =>
    lua
      .replace(/\bKEYS\[(\d+)\]/g, 'KEYS[k_ + $1]')
      .replace(/\bARGV\[(\d+)\]/g, (_, n: string) =>
        Number(n) <= own ? `ARGV[p_ + ${Number(n) + 1}]` : `ARGV[s_ + ${Number(n) - own}]`,
      );
  const perDecision = own + 1;
  const loop = [
    WRITE_BEHIND,
    'local out_ = {}',
    "-- One decision, run under pcall: its offsets in ARGV (own, shape's), KEYS and the reply.",
    'local function decide_(p_, s_, k_, o_)',
    indent(
      [shift(body.join('\n')), ...reply.map((item, i) => `out_[o_ + ${i + 1}] = ${shift(item)}`)].join('\n'),
    ),
    'end',
    `local first_ = 1 + tonumber(ARGV[1]) * ${shared}`,
    `for d_ = 0, (#ARGV - first_) / ${perDecision} - 1 do`,
    indent(
      [
        `local p_ = first_ + d_ * ${perDecision}`,
        'local c_ = tonumber(ARGV[p_ + 1])',
        `local o_ = d_ * ${shape.reply}`,
        `local ok_, err_ = pcall(decide_, p_, 1 + c_ * ${shared}, c_ * ${shape.keys}, o_)`,
        'if ok_ then commit_() else',
        '  discard_()',
        '  -- The error marker: the message (a string) where a reply starts with a number.',
        "  out_[o_ + 1] = type(err_) == 'table' and tostring(err_.err) or tostring(err_)",
        `  for i_ = 2, ${shape.reply} do out_[o_ + i_] = 0 end`,
        'end',
      ].join('\n'),
    ),
    'end',
    WRITE_BEHIND_FLUSH,
    'return out_',
  ];
  return assemble(`${decideTitle(layout)}, batch`, g, loop);
}

function decideTitle({ codes, blockKeys, penalty }: DecideLayout): string {
  return `decide ${describe(codes)}, ${blockKeys} block key(s), penalty ${penalty ? 'on' : 'off'}`;
}

/** A decide script's generator, its body (without the reply) and its reply items. */
function decideParts(
  { codes, blockKeys, penalty }: DecideLayout,
  deferred = false,
): {
  g: Generator;
  body: string[];
  reply: string[];
} {
  const withId = decideTakesId(codes);
  const g = new Generator(codes, 2 + blockKeys, withId ? 3 : 2, deferred);
  const reads = [1];
  for (let j = 0; j < blockKeys; j++) reads.push(2 + j);
  for (const slot of g.limits) {
    if (slot.fragment.kind !== 'string') continue;
    reads.push(slot.key);
    slot.value = `values[${reads.length}]`;
  }

  const body: string[] = [
    `local cost = tonumber(ARGV[1])${withId ? '\nlocal id = ARGV[2]' : ''}`,
    '-- One MGET reads the meta key, the block markers and every string state.',
    `local values = ${mget(reads, deferred)}`,
    'local meta = values[1]',
    PARSE_META + 'if blocked <= now then blocked = 0 end',
  ];
  if (blockKeys > 0) {
    body.push(`for j = 2, ${1 + blockKeys} do
  local until_ms = tonumber(values[j])
  if until_ms and until_ms > now and until_ms > blocked then blocked = until_ms end
end`);
  }
  body.push('local admitted = blocked == 0');
  for (const slot of g.limits) {
    body.push(
      `-- ${slot.i}: ${slot.fragment.code}`,
      g.declare(slot),
      g.read(slot),
      block(g.section(slot, 'fits')),
      `if ${g.variable(slot, 'w')} then admitted = false end`,
    );
  }
  body.push(
    penalty
      ? '-- Penalty mode: unless blocked, the limits with room are charged even if the decision is rejected.\nlocal charge = cost > 0 and blocked == 0'
      : 'local charge = cost > 0 and admitted',
  );
  const reply = ['ceil(blocked)', 'now'];
  for (const slot of g.limits) {
    const w = g.variable(slot, 'w');
    // A key that lost its TTL (PERSIST, a restore...) gets one back when a decision reads it.
    const heal = slot.fragment.kind === 'string' ? `elseif ${slot.value} then` : 'else';
    body.push(
      `-- ${slot.i}: ${slot.fragment.code}`,
      // Penalties never charge lease-based limits: nobody could release a rejected decision's slots.
      `if charge and not ${w}${slot.fragment.leases ? ' and admitted' : ''} then`,
      indent(block(g.section(slot, 'commit'))),
      indent(g.save(slot, true)),
      heal,
      `  if ${deferred && slot.fragment.kind === 'string' ? 'pttl_' : "redis.call('PTTL', "}${deferred && slot.fragment.kind === 'string' ? '(' : ''}KEYS[${slot.key}]) == -1 then`,
      indent(indent(g.save(slot, false))),
      '  end',
      'end',
    );
    reply.push(
      `${w} and (${w} == -1 and -1 or max(1, ceil(${w}))) or 0`,
      `max(0, floor(${g.section(slot, 'remaining')}))`,
      `ceil(${g.section(slot, 'expires')})`,
      g.section(slot, 'mark'),
    );
  }
  return { g, body, reply };
}

/**
 * The refund script of a layout: the limits of one admitted decision that refunds apply to (not the
 * lease-based ones), each giving back what that decision took there (see the `refund` sections).
 * KEYS: meta, then per limit its state key and its ledger key (units of this decision refunded so
 * far: string states only; a log finds its decision's own entry).
 * ARGV: units, decision id, decision instant, decision cost, then per limit: limit, window ms,
 * capacity for the algorithms that use it, the limit's reset instant and mark right after the decision.
 * A decision made at or before the tenant's last reset gives nothing back: its units were voided.
 */
export function refundSource(codes: readonly string[]): string {
  const g = new Generator(codes, 2, 5, false, 2, ['RA', 'MK']);
  const body: string[] = [
    'local units, id, at, cost = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])',
    "local meta = redis.call('GET', KEYS[1])",
    PARSE_META.trimEnd(),
    'if at <= R then return 0 end',
  ];
  for (const slot of g.limits) {
    const U = g.variable(slot, 'U');
    const RF = g.variable(slot, 'RF');
    const ledger = `KEYS[${slot.key + 1}]`;
    body.push(`-- ${slot.i}: ${slot.fragment.code}`, g.declare(slot, ['RF', 'U']));
    if (slot.fragment.kind === 'string') {
      slot.value = 'value';
      body.push(
        block(`local value = redis.call('GET', KEYS[${slot.key}])\n${g.section(slot, 'parse')}`),
        `${RF} = tonumber(redis.call('GET', ${ledger})) or 0`,
        `${U} = min(units, cost - ${RF})`,
        `local until_${slot.i} = ${g.section(slot, 'until')}`,
        `if ${U} > 0 and until_${slot.i} > now then`,
        indent(block(g.section(slot, 'refund'))),
        indent(g.save(slot, false)),
        `  redis.call('SET', ${ledger}, ${RF} + ${U}, 'PX', int(ceil(until_${slot.i} - now)))`,
        'end',
      );
    } else {
      body.push(
        g.read(slot),
        `${RF}, ${U} = 0, min(units, cost)`,
        block(g.section(slot, 'refund')),
        g.save(slot, false),
      );
    }
  }
  body.push(`return ${codes.length}`);
  return assemble(`refund ${describe(codes)}`, g, body);
}

/**
 * The release script of a layout: the lease-based limits of one admitted decision, each freeing the
 * entry of that lease (found by its id at the instant it was acquired, whatever cost a caller states).
 * KEYS: meta, then one state key per limit. ARGV: lease id, acquired instant, then per limit: limit,
 * window ms.
 */
export function releaseSource(codes: readonly string[]): string {
  const g = new Generator(codes, 2, 3);
  const body: string[] = [
    'local id, at = ARGV[1], tonumber(ARGV[2])',
    "local meta = redis.call('GET', KEYS[1])",
    PARSE_META.trimEnd(),
  ];
  for (const slot of g.limits) {
    body.push(
      `-- ${slot.i}: ${slot.fragment.code}`,
      g.declare(slot),
      g.read(slot),
      block(g.section(slot, 'release')),
      g.save(slot, false),
    );
  }
  body.push(`return ${codes.length}`);
  return assemble(`release ${describe(codes)}`, g, body);
}

function describe(codes: readonly string[]): string {
  return codes.length === 0 ? 'no limits' : codes.join(', ');
}

/**
 * The first line of every script: a Redis 7 shebang, declaring the script's flags. None are declared
 * (no `no-writes`, no `allow-oom`): the script may write, so Redis refuses it up front, before it runs
 * a single command, when it is out of memory (`maxmemory` with `noeviction`) or a read-only replica.
 * Without a shebang Redis only refuses a script's first write, after its reads, and lets the rest of
 * its writes through (sorted-set states would still be charged). Requires Redis 7.
 */
export const SCRIPT_SHEBANG = '#!lua';

/**
 * A script's source with its flags declared (SCRIPT_SHEBANG as its first line) unless it declares
 * its own: what `script()` hashes and sends, so no script goes to Redis without one.
 */
export function withShebang(source: string): string {
  return source.startsWith('#!') ? source : `${SCRIPT_SHEBANG}\n${source}`;
}

function assemble(title: string, g: Generator, body: string[]): string {
  const text = body.join('\n');
  return `${SCRIPT_SHEBANG}\n-- Sluice ${title}. Generated by src/stores/redis/scripts.ts.\n${g.prelude(text)}\n${text}\n`;
}

/**
 * Administrative operations of one tenant. KEYS: meta, then the keys the op works on.
 * ARGV[1]: "delete" (DEL KEYS[2..]), "reset-tenant" (ARGV[2] = how long the marker must live),
 * "block" (ARGV[2] = duration; KEYS[2] = block key, or none for the whole tenant), "unblock".
 */
export const ADMIN_SOURCE = `${SERVER_CLOCK_LUA}
local function parse_meta(v)
  if not v then return 0, 0 end
  local r, b = string.match(v, '^(.-)|(.*)$')
  return tonumber(r), tonumber(b)
end
local op = ARGV[1]
local r, b = parse_meta(redis.call('GET', KEYS[1]))
local function write_meta(keep_ms)
  if r == 0 and b == 0 then redis.call('DEL', KEYS[1]) return end
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < keep_ms then ttl = keep_ms end
  redis.call('SET', KEYS[1], r .. '|' .. b, 'PX', ttl)
end
if op == 'delete' then
  for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
elseif op == 'reset-tenant' then
  -- Strictly increasing, so two resets in one millisecond still void what was written between them.
  r = math.max(now, r + 1)
  write_meta(tonumber(ARGV[2]))
elseif op == 'block' then
  local d = tonumber(ARGV[2])
  if KEYS[2] then redis.call('SET', KEYS[2], now + d, 'PX', d)
  else
    b = now + d
    write_meta(d)
  end
elseif op == 'unblock' then
  if KEYS[2] then redis.call('DEL', KEYS[2])
  else
    b = 0
    write_meta(1)
  end
else
  return redis.error_reply('unknown op ' .. tostring(op))
end
return 1
`;

/**
 * Compare-and-set of a versioned document (runtime configuration): KEYS[1] holds "<version>\n<body>".
 * ARGV: expected version (0: absent; -1: present without a valid version, a broken document, which is
 * replaced if it still has none), new body, and the floor of the new version (used when replacing a
 * broken document: the writer's last known version, so that versions keep moving forward). Returns the
 * new version, or -1 if the document moved.
 */
export const DOCUMENT_SOURCE = `
local value = redis.call('GET', KEYS[1])
local current = 0
if value then current = tonumber(string.match(value, '^(%d+)\\n')) or -1 end
if current ~= tonumber(ARGV[1]) then return -1 end
local next = current + 1
if current == -1 then next = (tonumber(ARGV[3]) or 0) + 1 end
redis.call('SET', KEYS[1], next .. '\\n' .. ARGV[2])
return next
`;

export interface Script {
  readonly name: string;
  readonly source: string;
  /** SHA1 of the source, computed once: what EVALSHA sends. */
  readonly sha: string;
}

/**
 * A script as sent: its source with its flags declared (see withShebang: ADMIN_SOURCE and
 * DOCUMENT_SOURCE get theirs here) and its SHA1.
 */
export function script(name: string, source: string): Script {
  const flagged = withShebang(source);
  return { name, source: flagged, sha: createHash('sha1').update(flagged).digest('hex') };
}
