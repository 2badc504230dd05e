/** Who is logged in, and the controls: each disabled for a read-only token, each confirmed first. */
import { api } from './api';
import { type Change, confirmChange } from './confirm';
import { h } from './dom';

export const session = { name: '', access: 'read' as 'read' | 'write' };

export const readOnly = () => session.access !== 'write';

/** Shows a short message at the top of the page (the result of a change, or why it failed). */
export function notice(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const box = document.getElementById('notice');
  if (!box) return;
  box.className = `notice ${kind}`;
  box.textContent = text;
  box.hidden = false;
}

/**
 * A button that asks for confirmation, then sends one admin write; `done` refreshes the view after.
 * `describe` is called at click time so that it can read the form fields.
 */
export function control(
  label: string,
  describe: () => (Change & { method: string; path: string; body?: unknown }) | string,
  done: () => void,
  attrs: Record<string, string> = {},
): HTMLButtonElement {
  const button = h(
    'button',
    {
      type: 'button',
      class: `control ${attrs.class ?? ''}`,
      title: readOnly() ? 'read-only token: changes need a read-write token' : label,
      ...attrs,
    },
    label,
  );
  button.disabled = readOnly();
  button.addEventListener('click', async () => {
    const change = describe();
    if (typeof change === 'string') return notice(change, 'error');
    if (!(await confirmChange(change))) return;
    try {
      await api(change.method, change.path, change.body);
      notice(`Done: ${change.title}`);
    } catch (error) {
      notice(`${change.title} failed: ${(error as Error).message}`, 'error');
    }
    done();
  });
  return button;
}

export function field(name: string, placeholder: string, value = ''): HTMLInputElement {
  const input = h('input', { name, placeholder, 'aria-label': placeholder, 'data-field': name });
  input.value = value;
  input.disabled = readOnly();
  return input;
}

export function choice(name: string, options: string[], value: string): HTMLSelectElement {
  const select = h(
    'select',
    { name, 'aria-label': name, 'data-field': name },
    options.map((o) => h('option', { value: o }, o)),
  );
  select.value = value;
  select.disabled = readOnly();
  return select;
}
