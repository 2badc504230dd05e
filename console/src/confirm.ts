/**
 * Every change asks first: a modal dialog naming the change, what it changes (before and after) and
 * the request it will send; the change is made only on "Apply".
 */
import { h } from './dom';

export interface Change {
  title: string;
  /** What changes: [what, now, after]. */
  changes: Array<[string, string, string]>;
  request: string;
}

export function confirmChange(change: Change): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm', 'data-test': 'confirm-dialog' });
    const close = (ok: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(ok);
    };
    dialog.append(
      h('h2', {}, change.title),
      h('p', {}, 'This will change:'),
      h(
        'table',
        {},
        h('thead', {}, h('tr', {}, h('th', {}, 'what'), h('th', {}, 'now'), h('th', {}, 'after'))),
        h(
          'tbody',
          {},
          change.changes.map(([what, now, after]) =>
            h('tr', {}, h('td', {}, what), h('td', {}, now), h('td', { class: 'after' }, after)),
          ),
        ),
      ),
      h('p', { class: 'request' }, h('code', {}, change.request)),
      h('p', { class: 'note' }, 'It is recorded in the audit trail under your token’s name.'),
      h(
        'div',
        { class: 'buttons' },
        h('button', { type: 'button', 'data-test': 'cancel', onclick: () => close(false) }, 'Cancel'),
        h(
          'button',
          { type: 'button', class: 'danger', 'data-test': 'confirm', onclick: () => close(true) },
          'Apply',
        ),
      ),
    );
    dialog.addEventListener('cancel', () => close(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}
