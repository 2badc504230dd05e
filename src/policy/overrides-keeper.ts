import { unwatchFile, watchFile } from 'node:fs';
import { SluiceError, StoreError } from '../core/errors.js';
import type { DocumentHead, Store } from '../stores/store.js';
import { ConfigError, parseConfig, quotaOver, type SluiceConfig, tierQuotaIssues } from './config.js';
import { loadConfigFile } from './load.js';
import type { AuditLogger } from './policy-options.js';
import { PolicySet } from './resolve.js';
import {
  MAX_OVERRIDES_BYTES,
  own,
  parseOverrides,
  parseOverridesDocument,
  type RuntimeOverrides,
  serializeOverridesDocument,
} from './runtime.js';

export interface OverridesKeeperOptions {
  store: Store;
  config: SluiceConfig;
  operatorTimeoutMs: number;
  /** Who writes through this instance (the audit log, and the document). */
  actor: string;
  logger: AuditLogger | undefined;
  onConfigError: ((error: Error) => void) | undefined;
  /** Applies what the overrides say beyond policies (the forced platform and circuit states). */
  onApply: (overrides: RuntimeOverrides) => void;
}

/**
 * The configuration in force: the file's (reloadable) under the runtime overrides, which live in the
 * store as one versioned document. Reads it (polled every `refreshInterval`, its body transferred only
 * when its version changed), writes it (compare-and-set, within the operator timeout), validates and
 * applies it, and reports what it refuses; the last good configuration always stays.
 */
export class OverridesKeeper {
  /** The policies in force (configuration and runtime overrides). */
  set: PolicySet;
  /** Version of the runtime overrides in force (0: none written yet). */
  version = 0;
  /** The last refresh or reload failure, if the latest attempt failed. */
  lastConfigError: Error | undefined;
  readonly operatorTimeoutMs: number;
  private readonly store: Store;
  private readonly documentKey: string;
  private readonly options: OverridesKeeperOptions;
  /** The runtime overrides document last refused ("<version>" or "NaN|<bytes>"): not downloaded again. */
  private rejectedDocument: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private watchedFile: string | undefined;

  constructor(options: OverridesKeeperOptions) {
    this.options = options;
    this.store = options.store;
    this.operatorTimeoutMs = options.operatorTimeoutMs;
    this.documentKey = runtimeDocumentKey(options.config.prefix);
    this.set = new PolicySet(options.config);
  }

  /** The store key of the runtime overrides document (read by health as a probe too). */
  get key(): string {
    return this.documentKey;
  }

  /** Polls the document every refreshInterval (at most one read at a time), until `stop`. */
  startPolling(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.poll(), this.set.config.refreshIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.unwatch();
  }

  /**
   * Reads the runtime overrides document and applies it when it changed. Its body is transferred only
   * when its version differs from the one in force (and it is not the one refused last, nor too large).
   * A change made elsewhere is an audit event naming the version and its writer. Store failures reject;
   * a document that cannot be used is reported and ignored.
   */
  async load(operation: string, deadline: number): Promise<void> {
    const known = this.version;
    const rejected = this.rejectedDocument;
    const skipBody = (head: DocumentHead) =>
      head.version === known ||
      fingerprint(head.version, head.size) === rejected ||
      head.size > MAX_OVERRIDES_BYTES + 16;
    const doc = await this.within(
      operation,
      this.store.readDocument(this.documentKey, { skipBody }),
      deadline,
    );
    if (!doc || doc.version === known) return;
    const size = doc.body === undefined ? doc.size : Buffer.byteLength(doc.body);
    const seen = fingerprint(doc.version, size);
    if (seen === rejected) return;
    try {
      this.adopt(operation, doc.version, checkedBody(doc.body, doc.version, size));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.rejectedDocument = seen;
      this.reportConfigError(error);
    }
  }

  /**
   * Read, change, compare-and-set the runtime overrides document, within `operatorTimeout`. A broken
   * document (no version, bad JSON, invalid content) is replaced: the change applies over the overrides
   * this instance has in force (its last good document), and the audit event says it replaced one.
   */
  async update(operation: string, mutate: (o: RuntimeOverrides) => void): Promise<number> {
    const deadline = Date.now() + this.operatorTimeoutMs;
    for (let attempt = 0; attempt < 20; attempt++) {
      const doc = await this.within(operation, this.store.readDocument(this.documentKey), deadline);
      const { current, expected, replaced } = this.currentOf(doc);
      const next = parseOverrides(JSON.parse(JSON.stringify(current)));
      mutate(next);
      this.checkOverrides(parseOverrides(next));
      const stored = this.serialized(operation, next);
      const version = await this.within(
        operation,
        this.store.writeDocument(this.documentKey, stored, expected, this.version),
        deadline,
      );
      if (version !== null) {
        this.audit(
          operation,
          this.options.actor,
          version,
          current,
          next,
          replaced,
          'operator changed the runtime overrides',
        );
        this.apply(next, version);
        return version;
      }
    }
    throw new SluiceError(
      'ERR_SLUICE_CONFLICT',
      'runtime overrides kept changing under this update; try again',
    );
  }

  /**
   * Replaces the configuration (for example after editing the file). A document that does not validate
   * is rejected with a ConfigError naming every bad field, and the running configuration is unchanged.
   */
  reload(config: unknown, source?: string): SluiceConfig {
    const next = parseConfig(config, source);
    const set = new PolicySet(next, this.set.runtime);
    if (next.prefix !== this.set.config.prefix) {
      throw new ConfigError(
        [{ path: 'prefix', message: 'cannot change while running (it names every key)' }],
        source,
      );
    }
    this.set = set;
    this.lastConfigError = undefined;
    return next;
  }

  /** Reloads a YAML/JSON file whenever it changes; a broken file keeps the last good configuration. */
  watchFile(path: string, intervalMs = 1000): void {
    this.unwatch();
    this.watchedFile = path;
    watchFile(path, { interval: intervalMs, persistent: false }, () => {
      try {
        this.reload(loadConfigFile(path), path);
      } catch (error) {
        this.reportConfigError(error as Error);
      }
    });
  }

  /**
   * `pending`, or a StoreError ERR_SLUICE_STORE_TIMEOUT naming `operation` once `deadline` (epoch ms)
   * passes. What was sent may still run when the store answers late.
   */
  within<T>(operation: string, pending: Promise<T>, deadline: number): Promise<T> {
    const ms = Math.max(0, deadline - Date.now());
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new StoreError(
              this.store.backend,
              `${operation}: no answer within the operator timeout (${this.operatorTimeoutMs} ms)`,
              { code: 'ERR_SLUICE_STORE_TIMEOUT' },
            ),
          ),
        ms,
      );
    });
    pending.catch(() => undefined);
    return Promise.race([pending, late]).finally(() => clearTimeout(timer));
  }

  /** Refreshes and reloads that failed so far (for metrics). */
  configErrors = 0;

  reportConfigError(error: Error): void {
    this.lastConfigError = error;
    this.configErrors++;
    this.options.logger?.warn(
      { event: 'sluice.config_error', error: error.message },
      'configuration rejected; the last good one stays',
    );
    this.options.onConfigError?.(error);
  }

  /** One poll: never two at once (a slow store does not pile them up); failures are reported. */
  private poll(): void {
    if (this.polling) return;
    this.polling = this.load('poll', Date.now() + this.operatorTimeoutMs)
      .catch((error: Error) => this.reportConfigError(error))
      .finally(() => {
        this.polling = undefined;
      });
  }

  /** Validates and applies a document read from the store (written elsewhere), as an audit event. */
  private adopt(operation: string, version: number, body: string): void {
    const source = `runtime overrides v${version}`;
    const parsed = parseOverridesDocument(body, source);
    const overrides = this.checkOverrides(parsed.overrides, source);
    const before = this.set.runtime;
    this.apply(overrides, version);
    this.audit(
      operation,
      parsed.actor ?? 'unknown',
      version,
      before,
      overrides,
      undefined,
      'runtime overrides changed in the store',
      parsed.at,
    );
  }

  /** The document an update writes; refused (nothing written) when it would be too large. */
  private serialized(operation: string, overrides: RuntimeOverrides): string {
    const stored = serializeOverridesDocument({ overrides, actor: this.options.actor, at: Date.now() });
    const bytes = Buffer.byteLength(stored);
    if (bytes > MAX_OVERRIDES_BYTES) {
      throw new SluiceError(
        'ERR_SLUICE_DOCUMENT_TOO_LARGE',
        `${operation}: the runtime overrides would be ${bytes} bytes, more than the ${MAX_OVERRIDES_BYTES} accepted; nothing was written`,
      );
    }
    return stored;
  }

  /** What an update starts from: the stored overrides, or (a broken document) the ones in force. */
  private currentOf(doc: { version: number; body?: string | undefined } | null): {
    current: RuntimeOverrides;
    expected: number;
    replaced: string | undefined;
  } {
    const body = doc?.body;
    if (doc && (body === undefined || !Number.isSafeInteger(doc.version) || doc.version < 1)) {
      return { current: this.set.runtime, expected: -1, replaced: 'no version' };
    }
    if (body === undefined) return { current: {}, expected: doc?.version ?? 0, replaced: undefined };
    try {
      return {
        current: parseOverridesDocument(body).overrides,
        expected: doc?.version ?? 0,
        replaced: undefined,
      };
    } catch (error) {
      return { current: this.set.runtime, expected: doc?.version ?? 0, replaced: (error as Error).message };
    }
  }

  /** Overrides must name tiers and policies the configuration has. */
  private checkOverrides(overrides: RuntimeOverrides, source = 'runtime overrides'): RuntimeOverrides {
    const config = this.set.config;
    const issues = tenantIssues(config, overrides);
    const policies = new Set(['tier', ...config.policies.map((p) => p.name)]);
    for (const name of Object.keys(overrides.policyModes ?? {})) {
      if (!policies.has(name))
        issues.push({ path: `policyModes.${name}`, message: `unknown policy "${name}"` });
    }
    if (issues.length > 0) throw new ConfigError(issues, source);
    return overrides;
  }

  private apply(overrides: RuntimeOverrides, version: number): void {
    this.set = new PolicySet(this.set.config, overrides);
    this.version = version;
    this.rejectedDocument = undefined;
    this.lastConfigError = undefined;
    this.options.onApply(overrides);
    // Every change is an audit event (sluice.audit) of the caller: an operator write, or a read of the store.
  }

  private audit(
    via: string,
    actor: string,
    version: number,
    before: RuntimeOverrides,
    after: RuntimeOverrides,
    replaced: string | undefined,
    message: string,
    writtenAt?: number,
  ): void {
    this.options.logger?.warn(
      {
        event: 'sluice.audit',
        via,
        actor,
        ...(writtenAt === undefined ? {} : { writtenAt }),
        version,
        before,
        after,
        ...(replaced === undefined ? {} : { replacedBroken: replaced }),
      },
      message,
    );
  }

  private unwatch(): void {
    if (this.watchedFile) unwatchFile(this.watchedFile);
    this.watchedFile = undefined;
  }
}

/** The store key of a configuration's runtime overrides document. */
export function runtimeDocumentKey(prefix: string): string {
  return `${prefix}:{~runtime}:overrides`;
}

/** What identifies a refused document without its body: its version, or without one its size. */
function fingerprint(version: number, size: number): string {
  return Number.isNaN(version) ? `NaN|${size}` : String(version);
}

/** A read document's body, if it can be used; a ConfigError saying why not otherwise. */
function checkedBody(body: string | undefined, version: number, size: number): string {
  if (body === undefined || size > MAX_OVERRIDES_BYTES) {
    throw new ConfigError(
      [{ path: '', message: `${size} bytes, more than the ${MAX_OVERRIDES_BYTES} accepted: ignored` }],
      `runtime overrides v${version}`,
    );
  }
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new ConfigError(
      [
        {
          path: '',
          message:
            'has no version (expected "<version>\\n<JSON>"): ignored; an operator write (setMode, setTenantOverride...) replaces it',
        },
      ],
      'runtime overrides',
    );
  }
  return body;
}

/** Tenant overrides must name known tiers, and their quotas must make usable limits. */
function tenantIssues(
  config: SluiceConfig,
  overrides: RuntimeOverrides,
): Array<{ path: string; message: string }> {
  const issues = [];
  for (const [tenant, o] of Object.entries(overrides.tenants ?? {})) {
    if (o.tier !== undefined && !Object.hasOwn(config.tiers, o.tier)) {
      issues.push({ path: `tenants.${tenant}.tier`, message: `unknown tier "${o.tier}"` });
      continue;
    }
    // The quotas the tenant would get (runtime over file over tier) must make a usable limit. Tiers and
    // file tenants were checked with the configuration: only runtime quotas can break it.
    if (o.rps === undefined && o.burst === undefined) continue;
    const file = own(config.tenants, tenant);
    const tier = o.tier ?? file?.tier;
    for (const name of tier === undefined ? Object.keys(config.tiers) : [tier]) {
      const base = own(config.tiers, name);
      const found = base ? tierQuotaIssues(quotaOver(base, o, file), `tenants.${tenant}`) : [];
      if (found.length > 0) {
        issues.push(...found);
        break;
      }
    }
  }
  return issues;
}
