/** The console's shell: the login form (the admin token, kept in sessionStorage), the header and the router. */
import './style.css';
import { api, token } from './api';
import { h, replace } from './dom';
import { notice, readOnly, session } from './session';
import { auditView } from './views/audit';
import { overview } from './views/overview';
import { shadowView } from './views/shadow';
import { tenantView } from './views/tenant';
import type { View } from './views/view';

const app = document.getElementById('app') as HTMLElement;
let current: View | undefined;

function login(message = ''): void {
  const input = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'off',
    'aria-label': 'admin token',
    'data-field': 'token',
    placeholder: 'admin token',
  });
  const form = h(
    'form',
    { class: 'login' },
    h('h1', {}, 'Sluice console'),
    h(
      'p',
      {},
      'Sign in with an admin token (SLUICE_ADMIN_TOKEN or one of SLUICE_ADMIN_TOKENS). It is kept in this tab only.',
    ),
    input,
    h('button', { type: 'submit', 'data-test': 'login' }, 'Sign in'),
    message ? h('p', { class: 'banner down', 'data-test': 'login-error' }, message) : null,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    token.set(input.value.trim());
    void start();
  });
  replace(app, form);
  input.focus();
}

async function start(): Promise<void> {
  try {
    const who = await api('GET', '/whoami');
    session.name = who.name;
    session.access = who.access;
  } catch (error) {
    token.clear();
    return login((error as Error).message);
  }
  shell();
  route();
}

function shell(): void {
  const tenantBox = h('input', {
    placeholder: 'open tenant…',
    'aria-label': 'open tenant',
    'data-field': 'open-tenant',
  });
  tenantBox.addEventListener('change', () => {
    if (tenantBox.value) location.hash = `#/tenant/${encodeURIComponent(tenantBox.value)}`;
  });
  const signOut = h(
    'button',
    {
      type: 'button',
      onclick: () => {
        token.clear();
        location.hash = '';
        login();
      },
    },
    'Sign out',
  );
  replace(
    app,
    h(
      'header',
      {},
      h('strong', {}, 'Sluice'),
      h(
        'nav',
        {},
        h('a', { href: '#/' }, 'Overview'),
        h('a', { href: '#/shadow' }, 'Shadow rollout'),
        h('a', { href: '#/audit' }, 'Audit'),
      ),
      tenantBox,
      h(
        'span',
        { class: `who ${session.access}`, 'data-test': 'who' },
        `${session.name} (${readOnly() ? 'read-only' : 'read-write'})`,
      ),
      signOut,
    ),
    readOnly()
      ? h(
          'p',
          { class: 'banner ro', 'data-test': 'read-only' },
          'Read-only token: you see everything; changes are disabled (and the service refuses them).',
        )
      : null,
    h('p', { id: 'notice', class: 'notice', hidden: true, role: 'status', 'data-test': 'notice' }),
    h('main', { id: 'page' }),
  );
}

function route(): void {
  const page = document.getElementById('page');
  if (!page) return;
  current?.stop();
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, ...rest] = hash.split('/');
  if (name === 'tenant' && rest.length > 0) current = tenantView(decodeURIComponent(rest.join('/')));
  else if (name === 'shadow') current = shadowView();
  else if (name === 'audit') current = auditView();
  else current = overview();
  for (const a of document.querySelectorAll('nav a'))
    a.classList.toggle('here', a.getAttribute('href') === `#/${name ?? ''}`);
  (document.getElementById('notice') as HTMLElement).hidden = true;
  replace(page, current.element);
}

window.addEventListener('hashchange', () => {
  if (token.get()) route();
});
window.addEventListener('unhandledrejection', (event) =>
  notice(String(event.reason?.message ?? event.reason), 'error'),
);

if (token.get()) void start();
else login();
