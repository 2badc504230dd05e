import { keyParts } from '../../core/keys.js';
import type { Copy } from './flat.js';

/**
 * The memory store's keys: per tenant, a map from a short home string to the entries living there, and
 * every entry in one min-heap by expiry instant.
 *
 * A state or block marker lives under its encoded key (the user's key, as it came: short, often with
 * its hash already computed), not under its whole storage key: a decision then hashes no long, freshly
 * built string. Every other key (tenant meta, refund ledgers, keys outside the schema) lives under the
 * whole key. Entries sharing a home (the limits of one key) are chained.
 */

/** How an entry is found under its home (see Place). */
export const STATE = 0;
export const BLOCK = 1;
export const WHOLE = 2;

/** What an entry is to the store: tenant resets drop counters, and keep block markers and tenant meta. */
export const COUNTER = 0;
export const BLOCK_MARKER = 1;
export const TENANT_META = 2;

/** Where a key lives in its tenant's bucket. */
export interface Place {
  /** The key of the bucket's map: the encoded key of a state or block marker, else the whole key. */
  readonly home: string;
  readonly kind: number;
  /** States and block markers: the meta key of their prefix and tenant (a bucket holds every prefix's). */
  readonly space: string;
  /** States: the limit id. */
  readonly limitId: string;
}

export interface Entry extends Place {
  readonly bucket: Bucket;
  /** Next entry with the same home. */
  next: Entry | undefined;
  state: unknown;
  /** Epoch ms after which the entry is gone. */
  expiresAt: number;
  /**
   * Its place in the expiry heap: a lower bound of `expiresAt`. A write that extends the entry leaves
   * it; when it comes due, the entry is dropped if expired, else refiled at its `expiresAt`.
   */
  due: number;
  /** Index in the expiry heap; -1 once dropped. */
  slot: number;
  role: number;
}

/** One tenant's (encoded, as in plans) entries, of every prefix. */
export interface Bucket {
  readonly tenant: string;
  readonly homes: Map<string, Entry>;
  size: number;
  /** Entries that are block markers / tenant meta: a decision reads them only when there are some. */
  blocks: number;
  metas: number;
}

/** Where the key `key` lives (as laid out by core/keys.ts; any other string lives whole). */
export function placeOf(key: string): Place {
  const parts = keyParts(key);
  if (parts?.kind === 's')
    return { home: parts.subject, kind: STATE, space: parts.metaKey, limitId: parts.limitId };
  if (parts?.kind === 'b') return { home: parts.subject, kind: BLOCK, space: parts.metaKey, limitId: '' };
  return wholePlace(key);
}

export function wholePlace(key: string): Place {
  return { home: key, kind: WHOLE, space: '', limitId: '' };
}

export class KeySpace {
  private readonly buckets = new Map<string, Bucket>();
  /** Every entry, as a binary min-heap on `due`. */
  private heap: Entry[] = [];
  /** Entries visited by expiry (dropped or refiled): see MemoryStore.expiryVisits. */
  visits = 0;

  get size(): number {
    return this.heap.length;
  }

  bucket(tenant: string): Bucket | undefined {
    return this.buckets.get(tenant);
  }

  bucketFor(tenant: string): Bucket {
    let bucket = this.buckets.get(tenant);
    if (!bucket) {
      bucket = { tenant, homes: new Map(), size: 0, blocks: 0, metas: 0 };
      this.buckets.set(tenant, bucket);
    }
    return bucket;
  }

  /** The entry at a place (expired or not). */
  find(
    bucket: Bucket | undefined,
    home: string,
    kind: number,
    space: string,
    limitId: string,
  ): Entry | undefined {
    let entry = bucket?.homes.get(home);
    while (entry !== undefined) {
      if (entry.kind === kind && entry.limitId === limitId && entry.space === space) return entry;
      entry = entry.next;
    }
    return undefined;
  }

  findAt(bucket: Bucket | undefined, place: Place): Entry | undefined {
    return this.find(bucket, place.home, place.kind, place.space, place.limitId);
  }

  /**
   * Stores a value at a place: in `found` (the entry there, if still held) in place, O(1) unless it
   * now expires earlier; else in a new entry, O(log n). `flat`: copies the value's fields into the
   * value held, which is kept (see MemoryStore.write).
   */
  put(
    bucket: Bucket,
    found: Entry | undefined,
    place: Place,
    state: unknown,
    expiresAt: number,
    role: number,
    flat?: Copy,
  ): void {
    if (found !== undefined && found.slot >= 0) {
      const kept = found.state;
      if (flat !== undefined && typeof kept === 'object' && kept !== null) {
        flat(kept as Record<string, unknown>, state as Record<string, unknown>);
      } else found.state = state;
      const was = found.expiresAt;
      found.expiresAt = expiresAt;
      if (found.role !== role) {
        count(bucket, found.role, -1);
        count(bucket, role, 1);
        found.role = role;
      }
      // `due` is at most the expiry it replaces: only an earlier expiry can be before it.
      if (expiresAt < was && expiresAt < found.due) {
        found.due = expiresAt;
        this.siftUp(found.slot);
      }
      return;
    }
    // A bucket whose last entry was just dropped (a refund emptied a state) is no longer listed: a
    // ledger or state put in it now must be found again.
    if (bucket.size === 0) this.buckets.set(bucket.tenant, bucket);
    const { home, kind, space, limitId } = place;
    const next = bucket.homes.get(home);
    // What a decision reads first comes first: its fields share the object's first cache line.
    const entry: Entry = {
      kind,
      limitId,
      space,
      next,
      state,
      expiresAt,
      due: expiresAt,
      slot: this.heap.length,
      role,
      home,
      bucket,
    };
    bucket.homes.set(home, entry);
    bucket.size++;
    count(bucket, role, 1);
    this.heap.push(entry);
    this.siftUp(entry.slot);
  }

  /** Forgets an entry: out of its bucket (its home's chain) and of the heap (O(log n)). */
  drop(entry: Entry): void {
    if (entry.slot < 0) return;
    const bucket = entry.bucket;
    unchain(bucket.homes, entry);
    bucket.size--;
    count(bucket, entry.role, -1);
    if (bucket.size === 0 && this.buckets.get(bucket.tenant) === bucket) this.buckets.delete(bucket.tenant);
    const heap = this.heap;
    const last = heap.pop() as Entry;
    if (last !== entry) {
      const slot = entry.slot;
      heap[slot] = last;
      last.slot = slot;
      this.siftDown(slot);
      this.siftUp(last.slot);
    }
    entry.slot = -1;
  }

  /** Drops every counter of a bucket (a tenant reset); its block markers and meta stay. */
  dropCounters(bucket: Bucket): void {
    const counters: Entry[] = [];
    for (const first of bucket.homes.values()) {
      for (let entry: Entry | undefined = first; entry !== undefined; entry = entry.next) {
        if (entry.role === COUNTER) counters.push(entry);
      }
    }
    for (const entry of counters) this.drop(entry);
  }

  clear(): void {
    for (const entry of this.heap) entry.slot = -1;
    this.buckets.clear();
    this.heap = [];
  }

  /** Visits up to `budget` entries due at `cutoff`: drops the expired ones, refiles the extended ones. */
  reclaim(cutoff: number, budget: number): void {
    for (let work = 0; work < budget && this.reclaimOne(cutoff); work++);
  }

  /** Visits the earliest entry due at `cutoff`, if any (false: none is). */
  reclaimOne(cutoff: number): boolean {
    const top = this.heap[0];
    if (top === undefined || top.due > cutoff) return false;
    this.visits++;
    if (top.expiresAt <= cutoff) this.drop(top);
    else {
      top.due = top.expiresAt;
      this.siftDown(0);
    }
    return true;
  }

  private siftUp(start: number): void {
    const heap = this.heap;
    const entry = heap[start] as Entry;
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = heap[parent] as Entry;
      if (above.due <= entry.due) break;
      heap[i] = above;
      above.slot = i;
      i = parent;
    }
    heap[i] = entry;
    entry.slot = i;
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const n = heap.length;
    const entry = heap[start] as Entry;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && (heap[right] as Entry).due < (heap[left] as Entry).due) child = right;
      const below = heap[child] as Entry;
      if (below.due >= entry.due) break;
      heap[i] = below;
      below.slot = i;
      i = child;
    }
    heap[i] = entry;
    entry.slot = i;
  }
}

function count(bucket: Bucket, role: number, delta: number): void {
  if (role === BLOCK_MARKER) bucket.blocks += delta;
  else if (role === TENANT_META) bucket.metas += delta;
}

function unchain(homes: Map<string, Entry>, entry: Entry): void {
  const first = homes.get(entry.home);
  if (first === entry) {
    if (entry.next === undefined) homes.delete(entry.home);
    else homes.set(entry.home, entry.next);
    return;
  }
  for (let at = first; at !== undefined; at = at.next) {
    if (at.next === entry) {
      at.next = entry.next;
      return;
    }
  }
}
