/** The read-only verbs: `status`, `top`, `tenants`, `audit`. */
import { countOf } from '../args.js';
import { EXIT } from '../failures.js';
import { instant, type Output, printFields, printJson, printTable, span } from '../output.js';
import type { LimitUsage, TenantReport, TopEntry } from '../transport.js';
import type { Verb } from '../verb.js';
import { CONTEXT_FLAGS, CONTEXT_USAGE, contextOf, namesMoreThanTenant } from './context.js';

const COUNT_FLAG = { count: { type: 'string' } } as const;

export const statusVerb: Verb = {
  name: 'status',
  summary: "a tenant's tier, override, limits and top limited identities; or one identity's limits",
  usage: `usage: sluice status TENANT [IDENTITY] [--endpoint ROUTE] [--roles a,b] [--ip ADDR]
  Without IDENTITY (or the flags): the tenant's tier, runtime override, tenant-wide limits and its
  top rate-limited identities. With them: every limit that applies to that request, used and remaining.
${CONTEXT_USAGE}`,
  flags: CONTEXT_FLAGS,
  positionals: { min: 1, max: 2, names: ['TENANT', 'IDENTITY'] },
  transport: true,
  async run(call) {
    const [tenant, identity] = call.positionals as [string, string | undefined];
    const ctx = contextOf(tenant, identity, call.values);
    const admin = await call.admin();
    if (namesMoreThanTenant(ctx)) {
      const limits = await admin.status(ctx);
      if (call.json) printJson(call.out, { limits });
      else printUsage(call.out, limits);
      return EXIT.ok;
    }
    const report = await admin.tenant(tenant);
    if (call.json) printJson(call.out, report);
    else printTenant(call.out, report);
    return EXIT.ok;
  },
};

function printTenant(out: Output, report: TenantReport): void {
  printFields(out, [
    ['tenant', report.tenant],
    ['tier', report.tier],
    ['override', report.override ? JSON.stringify(report.override) : 'none'],
  ]);
  printUsage(out, report.limits);
  if (report.top.length > 0) {
    out.write('top rate-limited:\n');
    printTop(out, report.top);
  }
}

function printUsage(out: Output, limits: LimitUsage[]): void {
  const rows = limits.map((l) => [
    l.name,
    l.policy,
    l.mode,
    l.key ?? '(tenant)',
    String(l.used),
    String(l.remaining),
    String(l.limit),
    span(l.windowMs),
    instant(l.resetAt),
  ]);
  printTable(
    out,
    ['limit', 'policy', 'mode', 'key', 'used', 'remaining', 'of', 'window', 'full again at'],
    rows,
    '(no limits apply)',
  );
}

function printTop(out: Output, top: TopEntry[]): void {
  const rows = top.map((t) => [t.identity, rejections(t.rejected), t.binding ?? '-']);
  printTable(out, ['identity', 'rejected', 'refused most by'], rows);
}

/** Decayed counts are fractional: whole numbers stay whole, others get one decimal. */
function rejections(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

export const topVerb: Verb = {
  name: 'top',
  summary: 'the most rate-limited identities of a tenant',
  usage: `usage: sluice top TENANT [--count N]
  The identities of TENANT refused most often lately (kept in the store, bounded and decaying).
  --count N         how many (default 10, at most 1000)`,
  flags: COUNT_FLAG,
  positionals: { min: 1, max: 1, names: ['TENANT'] },
  transport: true,
  async run(call) {
    const count = countOf(call.values.count, '--count', 10);
    const top = await (await call.admin()).top(call.positionals[0] as string, count);
    if (call.json) printJson(call.out, { top });
    else printTop(call.out, top);
    return EXIT.ok;
  },
};

export const tenantsVerb: Verb = {
  name: 'tenants',
  summary: 'the tenants seen lately (the bounded index of active tenants)',
  usage: `usage: sluice tenants [--count N]
  The tenants that made requests lately, most recent first.
  --count N         how many (default 100, at most 1000)`,
  flags: COUNT_FLAG,
  positionals: { min: 0, max: 0, names: [] },
  transport: true,
  async run(call) {
    const count = countOf(call.values.count, '--count', 100);
    const tenants = await (await call.admin()).tenants(count);
    if (call.json) printJson(call.out, { tenants });
    else if (tenants.some((t) => t.tier !== undefined)) {
      const rows = tenants.map((t) => [t.tenant, instant(t.lastSeenAt), t.tier ?? '-']);
      printTable(call.out, ['tenant', 'last seen', 'tier'], rows);
    } else {
      printTable(
        call.out,
        ['tenant', 'last seen'],
        tenants.map((t) => [t.tenant, instant(t.lastSeenAt)]),
      );
    }
    return EXIT.ok;
  },
};

export const auditVerb: Verb = {
  name: 'audit',
  summary: 'the latest runtime changes, with who made them',
  usage: `usage: sluice audit [--count N]
  Runtime changes (modes, overrides, tiers, blocks, resets...), newest first, with the actor.
  --count N         how many (default 100, at most 1000)`,
  flags: COUNT_FLAG,
  positionals: { min: 0, max: 0, names: [] },
  transport: true,
  async run(call) {
    const count = countOf(call.values.count, '--count', 100);
    const entries = await (await call.admin()).audit(count);
    if (call.json) printJson(call.out, { entries });
    else
      printTable(
        call.out,
        ['at', 'actor', 'action', 'target', 'detail'],
        entries.map((e) => [instant(e.at), e.actor, e.action, textOf(e.target), textOf(e.detail)]),
      );
    return EXIT.ok;
  },
};

function textOf(value: unknown): string {
  if (value === undefined || value === null) return '-';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export const healthVerb: Verb = {
  name: 'health',
  summary: 'the store, circuit, failure modes and configuration version; exit 3 when down',
  usage: `usage: sluice health
  Health as GET /health says it (PolicyLimiter.health straight from the store): ok, degraded (failure
  modes or a slow store answer), or down (requests are denied: the store cannot decide, exit 3).`,
  flags: {},
  positionals: { min: 0, max: 0, names: [] },
  transport: true,
  async run(call) {
    const doc = await (await call.admin()).health();
    if (call.json) printJson(call.out, doc);
    else {
      const { store, circuit, mode, configVersion, configError } = doc.report;
      const fields: Array<[string, string]> = [
        ['status', doc.status],
        [
          'store',
          `${store.backend}, ${store.reachable ? `reachable (${store.latencyMs} ms)` : `unreachable: ${store.error}`}`,
        ],
        ['circuit', circuit ? circuit.state : 'none (in-process store)'],
        ['mode', mode],
        ['config', `version ${configVersion}${configError ? `, error: ${configError}` : ''}`],
      ];
      if (doc.version !== undefined)
        fields.push(['service', `sluice ${doc.version}, up ${doc.uptimeSeconds ?? 0} s`]);
      printFields(call.out, fields);
    }
    return doc.status === 'down' ? EXIT.unreachable : EXIT.ok;
  },
};
