/** The audit trail: every change, newest first, with who made it. */
import { api } from '../api';
import { h, replace, table, time } from '../dom';
import type { View } from './view';

export function auditView(): View {
  const body = h('div', {}, 'loading…');
  const element = h('div', { class: 'view audit' }, h('h2', {}, 'Audit trail'), body);
  const refresh = async () => {
    try {
      const { entries } = await api('GET', '/audit?count=200');
      replace(
        body,
        table(
          ['at', 'actor', 'action', 'target', 'detail'],
          // biome-ignore lint/suspicious/noExplicitAny: audit entries
          entries.map((e: any) => [
            time(e.at),
            e.actor,
            h('span', { 'data-action': e.action }, e.action),
            e.target,
            e.detail === undefined ? '' : h('code', {}, JSON.stringify(e.detail)),
          ]),
          'no changes recorded',
        ),
      );
    } catch (error) {
      replace(body, h('p', { class: 'banner down' }, `Unavailable: ${(error as Error).message}`));
    }
  };
  void refresh();
  const timer = setInterval(refresh, 5000);
  return { element, stop: () => clearInterval(timer) };
}
