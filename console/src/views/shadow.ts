/** The shadow rollout: each policy's mode and would-be rejections, the proposal beside them, and the mode switch per policy. */
import { api, enc } from '../api';
import { h, replace, table } from '../dom';
import { choice, control } from '../session';
import type { View } from './view';

// biome-ignore lint/suspicious/noExplicitAny: admin API answers, read field by field
type Json = any;

export function shadowView(): View {
  const body = h('div', {}, 'loading…');
  const element = h('div', { class: 'view shadow' }, h('h2', {}, 'Shadow rollout'), body);
  // A slower refresh that started before a change must not overwrite a newer one.
  let generation = 0;
  const refresh = () => {
    generation += 1;
    const mine = generation;
    void render(body, refresh, () => mine === generation);
  };
  refresh();
  const timer = setInterval(() => {
    if (!element.contains(document.activeElement)) refresh();
  }, 3000);
  return { element, stop: () => clearInterval(timer) };
}

async function render(box: HTMLElement, refresh: () => void, current: () => boolean): Promise<void> {
  let s: Json;
  let quotas: Json;
  try {
    [s, quotas] = await Promise.all([api('GET', '/shadow?seconds=60'), api('GET', '/quotas')]);
  } catch (error) {
    if (!current()) return;
    replace(box, h('p', { class: 'banner down' }, `Unavailable: ${(error as Error).message}`));
    return;
  }
  if (!current()) return;
  const rows = (s.policies as Json[]).map((p) => {
    const mode = choice(`mode-${p.name}`, ['enforce', 'shadow', 'disabled', 'config default'], p.mode);
    const next = () => (mode.value === 'config default' ? null : mode.value);
    return [
      h('span', { 'data-policy': p.name }, p.name),
      p.scope,
      p.mode,
      h('b', { 'data-effective': p.name }, p.effective),
      h('span', { 'data-would-reject': p.name }, String(s.wouldReject[p.name] ?? 0)),
      h(
        'span',
        { class: 'row' },
        mode,
        control(
          'Apply',
          () => ({
            title: `Set policy ${p.name}'s mode`,
            changes: [[`${p.name} mode`, p.mode, next() ?? 'the configuration’s']],
            method: 'PUT',
            path: '/mode',
            body: { mode: next(), policy: p.name },
            request: `PUT /admin/ratelimit/mode {"mode":${JSON.stringify(next())},"policy":"${p.name}"}`,
          }),
          refresh,
          { 'data-test': `mode-${enc(p.name)}` },
        ),
      ),
    ];
  });
  const proposal = Object.entries(s.proposal as Record<string, Json>).map(([tier, p]) => [
    tier,
    String(quotas.tiers?.[tier]?.rps ?? 'n/a'),
    h('b', {}, String(p.rps)),
    String(p.burst),
    `${p.observed.tenants} tenant(s), ${p.observed.seconds} s: p50 ${p.observed.p50}, p99 ${p.observed.p99}, max ${p.observed.max}`,
  ]);
  replace(
    box,
    h(
      'p',
      {},
      `Global mode: `,
      h('b', {}, s.globalMode),
      `. Would-be rejections are counted by this instance over the last ${s.seconds} s: a shadow policy decides nothing, it only says what it would have refused.`,
    ),
    table(
      ['policy', 'scope', 'own mode', 'in force', `would reject (${s.seconds} s)`, 'switch'],
      rows,
      'no policies',
    ),
    h('h3', {}, 'Calibration proposal (p99 of tenants’ decisions per second × 1.5)'),
    table(['tier', 'tier rps now', 'proposed rps', 'burst', 'observed'], proposal, 'no traffic observed yet'),
    h(
      'p',
      { class: 'note' },
      'From this instance’s last 60 s; `sluice calibrate` proposes from a day of rates recorded by every instance.',
    ),
  );
}
