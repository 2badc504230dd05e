/** One tenant: tier, override, every limit's usage, LLM usage, an identity's limits, recent rejections, reputation and blocks, and its controls. */
import { api, enc } from '../api';
import { type Child, duration, h, replace, table, time } from '../dom';
import { control, field, readOnly } from '../session';
import type { View } from './view';

// biome-ignore lint/suspicious/noExplicitAny: admin API answers, read field by field
type Json = any;

export function tenantView(tenant: string): View {
  const body = h('div', {}, 'loading…');
  const element = h(
    'div',
    { class: 'view tenant' },
    h('h2', {}, 'Tenant ', h('span', { 'data-test': 'tenant-name' }, tenant)),
    body,
  );
  // A slower refresh that started before a change must not overwrite a newer one.
  let generation = 0;
  const refresh = () => {
    generation += 1;
    const mine = generation;
    void render(tenant, body, refresh, () => mine === generation);
  };
  refresh();
  const timer = setInterval(() => {
    // Do not redraw under a half-filled form.
    if (!element.contains(document.activeElement) || document.activeElement === document.body) refresh();
  }, 5000);
  return { element, stop: () => clearInterval(timer) };
}

async function render(
  tenant: string,
  box: HTMLElement,
  refresh: () => void,
  current: () => boolean,
): Promise<void> {
  const t = enc(tenant);
  let info: Json;
  let standing: Json;
  let quotas: Json;
  let llm: Json;
  try {
    [info, standing, quotas, llm] = await Promise.all([
      api('GET', `/tenants/${t}`),
      api('GET', `/tenants/${t}/standing`),
      api('GET', '/quotas'),
      // LLM usage is an extra: a store without it leaves the rest of the page as it is.
      api('GET', `/tenants/${t}/llm-usage?hours=24`).catch(() => null),
    ]);
  } catch (error) {
    if (!current()) return;
    replace(
      box,
      h(
        'p',
        { class: 'banner down', 'data-test': 'tenant-error' },
        `Unavailable: ${(error as Error).message}`,
      ),
    );
    return;
  }
  if (!current()) return;
  const limits = info.limits as Json[];
  replace(
    box,
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'tier'),
      h('dd', { 'data-fact': 'tier' }, info.tier),
      h('dt', {}, 'override'),
      h('dd', { 'data-fact': 'override' }, info.override ? JSON.stringify(info.override) : 'none'),
      h('dt', {}, 'blocked'),
      h(
        'dd',
        { 'data-fact': 'blocked', class: standing.blocked ? 'unhealthy' : '' },
        standing.blocked ? `yes, until ${time(standing.blockedUntil)}` : 'no',
      ),
      h('dt', {}, 'violations (reputation)'),
      h(
        'dd',
        { 'data-fact': 'violations' },
        standing.violations === null ? 'n/a' : String(standing.violations),
      ),
      h('dt', {}, 'adaptive factor'),
      h('dd', {}, standing.adaptiveFactor === null ? '1' : String(standing.adaptiveFactor)),
    ),
    h('h3', {}, 'Tenant-wide limits'),
    limitsTable(limits),
    llmUsagePanel(llm),
    h('h3', {}, 'Most limited identities'),
    table(
      ['identity', 'binding limit', 'rejections'],
      (info.top as Json[]).map((i) => [i.identity, i.binding, i.rejected.toFixed(1)]),
      'none in the last 15 minutes',
    ),
    h('h3', {}, 'Recent rejections (this instance)'),
    table(
      ['at', 'outcome', 'identity', 'binding limit'],
      (standing.recentRejections as Json[]).map((r) => [time(r.at), r.outcome, r.identity, r.binding]),
      'none',
    ),
    identityLookup(tenant),
    tenantControls(tenant, info, standing, quotas, refresh),
  );
}

/** Calls, tokens and cost per provider and model over the last hours (only when there was a call). */
function llmUsagePanel(usage: Json): HTMLElement | null {
  if (!usage || usage.totals.calls === 0) return null;
  const n = (v: number) => v.toLocaleString('en-US');
  const row = (name: Child[], r: Json): Child[] => [
    ...name,
    n(r.calls),
    n(r.inputTokens),
    n(r.outputTokens),
    n(r.cachedInputTokens),
    dollars(r.costUsd),
  ];
  return h(
    'section',
    { 'data-test': 'llm-usage' },
    h('h3', {}, `LLM usage (last ${usage.hours} h)`),
    table(
      ['provider', 'model', 'calls', 'input tokens', 'output tokens', 'cached', 'cost'],
      [
        ...(usage.models as Json[]).map((m) => row([m.provider, m.model], m)),
        row([h('strong', {}, 'total'), ''], usage.totals),
      ],
    ),
    h('p', { class: 'empty' }, `${usage.identities} identities; most tokens:`),
    table(
      ['user', 'tokens'],
      (usage.top as Json[]).map((u) => [u.user, n(u.tokens)]),
      'none counted on their own',
    ),
  );
}

/** Dollars with cents, or to the millionth for amounts under a cent. */
function dollars(usd: number): string {
  return `$${usd >= 0.01 || usd === 0 ? usd.toFixed(2) : usd.toFixed(6)}`;
}

function limitsTable(limits: Json[]): HTMLElement {
  return table(
    ['policy', 'limit', 'mode', 'used / limit', 'window', 'resets'],
    limits.map((l) => [
      l.policy,
      l.name,
      l.mode,
      h(
        'span',
        { class: 'usage' },
        h('meter', { min: 0, max: l.limit, value: l.used, high: l.limit * 0.8 }),
        ` ${l.used} / ${l.limit}`,
      ),
      duration(l.windowMs),
      l.used > 0 ? time(l.resetAt) : '',
    ]),
    'no tenant-wide limits',
  );
}

/** Every limit that applies to one identity of the tenant, and which one binds. */
function identityLookup(tenant: string): HTMLElement {
  const user = h('input', { placeholder: 'user', 'aria-label': 'user' });
  const ip = h('input', { placeholder: 'ip', 'aria-label': 'ip' });
  const endpoint = h('input', { placeholder: 'endpoint', 'aria-label': 'endpoint' });
  const out = h('div', {});
  const look = async () => {
    const q = new URLSearchParams();
    if (user.value) q.set('user', user.value);
    if (ip.value) q.set('ip', ip.value);
    if (endpoint.value) q.set('endpoint', endpoint.value);
    try {
      const s = await api('GET', `/tenants/${enc(tenant)}/status?${q}`);
      replace(
        out,
        h(
          'p',
          {},
          s.allowed ? 'Next request: allowed' : 'Next request: refused',
          s.binding ? ` (binding: ${s.binding})` : '',
        ),
        limitsTable(s.limits),
      );
    } catch (error) {
      replace(out, h('p', { class: 'banner down' }, (error as Error).message));
    }
  };
  return h(
    'section',
    {},
    h('h3', {}, 'One identity'),
    h(
      'div',
      { class: 'row' },
      user,
      ip,
      endpoint,
      h('button', { type: 'button', onclick: look }, 'Show its limits'),
    ),
    out,
  );
}

function tenantControls(
  tenant: string,
  info: Json,
  standing: Json,
  quotas: Json,
  refresh: () => void,
): HTMLElement {
  const t = enc(tenant);
  const tier = field('tier', `tier (${Object.keys(quotas.tiers ?? {}).join(', ')}; empty: default)`);
  const override = h('textarea', {
    name: 'override',
    'aria-label': 'override JSON',
    'data-field': 'override',
    rows: 2,
    placeholder: '{"rps": 50, "burst": 100}  (empty: remove)',
  });
  override.value = info.override ? JSON.stringify(info.override) : '';
  override.disabled = readOnly();
  const limitChoice = h(
    'select',
    { 'aria-label': 'limit to reset', 'data-field': 'limit' },
    (info.limits as Json[]).map((l) =>
      h('option', { value: `${l.policy}\u0000${l.name}` }, `${l.policy} / ${l.name}`),
    ),
  );
  limitChoice.disabled = readOnly();
  const user = field('block-user', 'user (empty: whole tenant)');
  const ip = field('block-ip', 'ip (empty: whole tenant)');
  const blockFor = field('duration', 'duration', '15m');
  const who = () => ({
    tenant,
    ...(user.value ? { user: user.value } : {}),
    ...(ip.value ? { ip: ip.value } : {}),
  });
  const whoText = () =>
    [tenant, user.value && `user ${user.value}`, ip.value && `ip ${ip.value}`].filter(Boolean).join(' / ');
  const parseOverride = (): Json | string => {
    if (override.value.trim() === '') return null;
    try {
      return JSON.parse(override.value);
    } catch {
      return 'the override is not valid JSON';
    }
  };
  return h(
    'section',
    { class: 'controls' },
    h('h3', {}, 'Controls'),
    h(
      'div',
      { class: 'row' },
      tier,
      control(
        'Set tier',
        () => {
          const next = tier.value.trim() || null;
          return {
            title: `Set ${tenant}'s tier`,
            changes: [['tier', info.tier, next ?? 'the default (rules)']],
            method: 'PUT',
            path: `/tenants/${t}/tier`,
            body: { tier: next },
            request: `PUT /admin/ratelimit/tenants/${tenant}/tier {"tier":${JSON.stringify(next)}}`,
          };
        },
        refresh,
        { 'data-test': 'set-tier' },
      ),
    ),
    h(
      'div',
      { class: 'row' },
      override,
      control(
        'Set override',
        () => {
          const next = parseOverride();
          if (typeof next === 'string') return next;
          return {
            title: `Set ${tenant}'s override`,
            changes: [
              [
                'override',
                info.override ? JSON.stringify(info.override) : 'none',
                next ? JSON.stringify(next) : 'none (removed)',
              ],
            ],
            method: 'PUT',
            path: `/tenants/${t}/override`,
            body: { override: next },
            request: `PUT /admin/ratelimit/tenants/${tenant}/override ${JSON.stringify({ override: next })}`,
          };
        },
        refresh,
        { 'data-test': 'set-override' },
      ),
    ),
    h(
      'div',
      { class: 'row' },
      control(
        'Reset tenant',
        () => ({
          title: `Reset every counter of ${tenant}`,
          changes: [['counters', 'as used', 'all zero (full quota again)']],
          method: 'DELETE',
          path: `/tenants/${t}/reset`,
          request: `DELETE /admin/ratelimit/tenants/${tenant}/reset`,
        }),
        refresh,
        { class: 'danger', 'data-test': 'reset-tenant' },
      ),
      limitChoice,
      control(
        'Reset limit',
        () => {
          const [policy, limit] = limitChoice.value.split('\u0000');
          if (!policy || !limit) return 'no limit to reset';
          return {
            title: `Reset ${policy} / ${limit} of ${tenant}`,
            changes: [[`${policy} / ${limit}`, 'as used', 'zero']],
            method: 'POST',
            path: `/tenants/${t}/limits/reset`,
            body: { policy, limit },
            request: `POST /admin/ratelimit/tenants/${tenant}/limits/reset {"policy":"${policy}","limit":"${limit}"}`,
          };
        },
        refresh,
        { 'data-test': 'reset-limit' },
      ),
    ),
    h(
      'div',
      { class: 'row' },
      user,
      ip,
      blockFor,
      control(
        'Block',
        () => ({
          title: `Block ${whoText()}`,
          changes: [
            [
              whoText(),
              standing.blocked && !user.value && !ip.value ? 'blocked' : 'admitted by its limits',
              `every request refused for ${blockFor.value}`,
            ],
          ],
          method: 'POST',
          path: '/blocks',
          body: { ...who(), duration: blockFor.value },
          request: `POST /admin/ratelimit/blocks ${JSON.stringify({ ...who(), duration: blockFor.value })}`,
        }),
        refresh,
        { class: 'danger', 'data-test': 'block' },
      ),
      control(
        'Unblock',
        () => ({
          title: `Unblock ${whoText()}`,
          changes: [[whoText(), 'blocked (if it was)', 'decided by its limits']],
          method: 'DELETE',
          path: '/blocks',
          body: who(),
          request: `DELETE /admin/ratelimit/blocks ${JSON.stringify(who())}`,
        }),
        refresh,
        { 'data-test': 'unblock' },
      ),
      control(
        'Reset reputation',
        () => ({
          title: `Reset the reputation of ${whoText()}`,
          changes: [['violations', String(standing.violations ?? 'n/a'), '0']],
          method: 'POST',
          path: '/reputation/reset',
          body: who(),
          request: `POST /admin/ratelimit/reputation/reset ${JSON.stringify(who())}`,
        }),
        refresh,
        { 'data-test': 'reset-reputation' },
      ),
    ),
  );
}
