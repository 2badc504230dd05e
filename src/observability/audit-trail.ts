/**
 * The audit trail of operator changes (resets, overrides, modes, blocks...), kept in the store as a
 * bounded board so that every instance and the CLI see the same trail: who (the token's name), what,
 * on what, when. Newest first; the oldest are dropped past `maxEntries`.
 */
import { randomBytes } from 'node:crypto';
import { tenantKeyPrefix } from '../core/keys.js';
import type { Store } from '../stores/store.js';

export interface AuditEntry {
  /** Epoch ms. */
  at: number;
  /** Who made the change: the admin token's name, "cli", ... */
  actor: string;
  /** What was done: "tenant.reset", "mode.set", "block", ... */
  action: string;
  /** What it was done to: a tenant, "tenant/user:alice", a policy, "global". */
  target: string;
  detail?: unknown;
}

const MAX_DETAIL_BYTES = 4096;

export class AuditTrail {
  constructor(
    private readonly store: Store,
    private readonly options: { prefix?: string; maxEntries?: number; ttlMs?: number } = {},
  ) {}

  /** Appends an entry (its detail cut to 4 KiB of JSON). Rejects when the store cannot keep it. */
  async record(entry: Omit<AuditEntry, 'at'> & { at?: number }): Promise<AuditEntry> {
    if (!this.store.addToBoard) throw new Error(`the ${this.store.backend} store keeps no audit trail`);
    const full: AuditEntry = { at: entry.at ?? Date.now(), ...entry };
    if (full.detail !== undefined && JSON.stringify(full.detail).length > MAX_DETAIL_BYTES) {
      full.detail = { truncated: true };
    }
    // A random suffix keeps two identical changes in the same millisecond two members.
    const member = JSON.stringify({ ...full, n: randomBytes(4).toString('hex') });
    await this.store.addToBoard(this.key(), [[member, full.at]], {
      mode: 'set',
      maxMembers: this.options.maxEntries ?? 1000,
      ttlMs: this.options.ttlMs ?? 30 * 86_400_000,
    });
    return full;
  }

  /** The `count` latest entries, newest first. */
  async entries(count = 100): Promise<AuditEntry[]> {
    if (!this.store.readBoards) return [];
    const members = await this.store.readBoards([this.key()], [1], count);
    return members.map(([member]) => {
      const { n: _n, ...entry } = JSON.parse(member) as AuditEntry & { n?: string };
      return entry;
    });
  }

  private key(): string {
    return `${tenantKeyPrefix(this.options.prefix ?? 'sluice', '~audit')}trail`;
  }
}
