/** Overview: live decisions by outcome (overall and one tenant), the most limited, and health. */
import { api, enc, stream } from '../api';
import { LiveChart, type Point } from '../chart';
import { h, replace, table } from '../dom';
import { renderHealth } from './health';
import { chartWidth, type View } from './view';

export function overview(): View {
  const abort = new AbortController();
  const overall = new LiveChart('Decisions per second, every tenant (last 60 s)', chartWidth());
  overall.element.dataset.test = 'chart-overall';
  const tenantChart = new LiveChart('Decisions per second, one tenant', chartWidth());
  tenantChart.element.dataset.test = 'chart-tenant';
  const tenantInput = h('input', {
    placeholder: 'tenant to chart',
    'aria-label': 'tenant to chart',
    'data-field': 'chart-tenant',
  });
  const status = h('p', { class: 'live-status', 'data-test': 'live-status' }, 'connecting…');
  const top = h('div', { 'data-test': 'top-limited' }, 'loading…');
  const health = h('div', {}, 'loading…');
  let tenantAbort: AbortController | undefined;
  const follow = (tenant: string | undefined) => {
    tenantAbort?.abort();
    tenantAbort = new AbortController();
    abort.signal.addEventListener('abort', () => tenantAbort?.abort());
    live(tenant, tenantAbort.signal, tenant ? tenantChart : overall, status);
  };
  tenantInput.addEventListener('change', () => {
    tenantChart.element.querySelector('figcaption')!.textContent =
      `Decisions per second, tenant ${tenantInput.value} (last 60 s)`;
    if (tenantInput.value) follow(tenantInput.value);
  });
  live(undefined, abort.signal, overall, status);
  const refresh = () => {
    void renderHealth(health, refresh);
    void renderTop(top);
  };
  refresh();
  const timer = setInterval(refresh, 5000);
  const onResize = () => {
    overall.resize(chartWidth());
    tenantChart.resize(chartWidth());
  };
  window.addEventListener('resize', onResize);
  const element = h(
    'div',
    { class: 'view overview' },
    h(
      'section',
      {},
      h('h2', {}, 'Live decisions'),
      status,
      overall.element,
      h('div', { class: 'row' }, h('label', {}, 'Chart one tenant: ', tenantInput)),
      tenantChart.element,
    ),
    h('section', {}, h('h2', {}, 'Most rate-limited'), top),
    h('section', {}, h('h2', {}, 'Health'), health),
  );
  return {
    element,
    stop: () => {
      abort.abort();
      clearInterval(timer);
      window.removeEventListener('resize', onResize);
    },
  };
}

/** Follows the live stream into a chart; reconnects after a failure (the service restarting, a proxy). */
function live(tenant: string | undefined, signal: AbortSignal, chart: LiveChart, status: HTMLElement): void {
  const path = `/live?seconds=60${tenant ? `&tenant=${enc(tenant)}` : ''}`;
  const run = () =>
    stream(path, signal, (event, data) => {
      // biome-ignore lint/suspicious/noExplicitAny: the stream's events, read field by field
      const d = data as any;
      if (event === 'snapshot') {
        chart.reset((tenant ? d.tenantSeries : d.overall) as Point[]);
        status.textContent = 'live';
        status.className = 'live-status on';
      } else if (event === 'tick') {
        const counts = tenant ? d.tenant : d.overall;
        chart.push({ second: d.second, counts: counts ?? zeros() });
      }
    }).catch((error: Error) => {
      if (signal.aborted) return;
      status.textContent = `live stream lost (${error.message}): reconnecting…`;
      status.className = 'live-status off';
      setTimeout(() => !signal.aborted && run(), 2000);
    });
  void run();
}

function zeros(): Point['counts'] {
  return { allowed: 0, rejected: 0, shed: 0, blocked: 0, fail_open: 0, fail_closed: 0, shadow_rejected: 0 };
}

/** The active tenants' most limited identities, most rejected first, and each tenant's total. */
async function renderTop(box: HTMLElement): Promise<void> {
  try {
    const { tenants } = await api('GET', '/tenants?count=25');
    const tops = await Promise.all(
      tenants.map(async (t: { tenant: string }) => ({
        tenant: t.tenant,
        ...(await api('GET', `/tenants/${enc(t.tenant)}/top?count=5`)),
      })),
    );
    const byTenant = tops
      .map((t) => ({
        tenant: t.tenant as string,
        top: t.top as Array<{ identity: string; binding: string; rejected: number }>,
        rejected: t.top.reduce((a: number, i: { rejected: number }) => a + i.rejected, 0),
      }))
      .filter((t) => t.rejected > 0)
      .sort((a, b) => b.rejected - a.rejected);
    const link = (tenant: string) => h('a', { href: `#/tenant/${enc(tenant)}` }, tenant);
    replace(
      box,
      h('h3', {}, 'Tenants'),
      table(
        ['tenant', 'rejections (decayed)', 'binding limits'],
        byTenant.map((t) => [
          link(t.tenant),
          t.rejected.toFixed(1),
          [...new Set(t.top.map((i) => i.binding))].join(', '),
        ]),
        'no rejections in the last 15 minutes',
      ),
      h('h3', {}, 'Identities'),
      table(
        ['tenant', 'identity', 'binding limit', 'rejections'],
        byTenant
          .flatMap((t) => t.top.map((i) => [link(t.tenant), i.identity, i.binding, i.rejected.toFixed(1)]))
          .sort((a, b) => Number(b[3]) - Number(a[3]))
          .slice(0, 15),
        'none',
      ),
      h(
        'p',
        { class: 'empty' },
        `Active tenants: ${tenants.length}. `,
        tenants.slice(0, 25).flatMap((t: { tenant: string }) => [link(t.tenant), ' ']),
      ),
    );
  } catch (error) {
    replace(box, h('p', { class: 'banner down' }, `Unavailable: ${(error as Error).message}`));
  }
}
