/** Store health and latency, circuit, platform protection, failure modes, configuration: and the global switches. */
import { api } from '../api';
import { h, replace, table } from '../dom';
import { choice, control } from '../session';

// biome-ignore lint/suspicious/noExplicitAny: the health document, read field by field
type Health = any;

export async function renderHealth(box: HTMLElement, refresh: () => void): Promise<void> {
  let doc: Health;
  try {
    doc = await api('GET', '/health');
  } catch (error) {
    replace(
      box,
      h(
        'p',
        { class: 'banner down', 'data-test': 'store-banner' },
        `Health unavailable: ${(error as Error).message}`,
      ),
    );
    return;
  }
  const r = doc.ratelimit;
  const storeDown = !r.store.reachable;
  replace(
    box,
    storeDown
      ? h(
          'p',
          { class: 'banner down', 'data-test': 'store-banner' },
          `Store unreachable (${r.store.error ?? 'no answer'}): decisions follow their failure modes; counts and lists below may be missing.`,
        )
      : null,
    h(
      'dl',
      { class: `facts ${doc.status}`, 'data-test': 'health' },
      fact('status', doc.status, doc.status),
      fact(
        'store',
        `${r.store.backend} ${r.store.reachable ? 'reachable' : 'UNREACHABLE'}`,
        storeDown ? 'unhealthy' : '',
      ),
      fact('latency', r.store.latencyMs === null ? 'n/a' : `${r.store.latencyMs} ms`),
      fact(
        'circuit',
        r.circuit ? `${r.circuit.state}${r.circuit.forced ? ` (forced ${r.circuit.forced})` : ''}` : 'none',
      ),
      fact(
        'platform',
        r.platform
          ? `${r.platform.state}${r.platform.forced ? ` (forced ${r.platform.forced})` : ''}, shed ${r.platform.shedLevel}`
          : 'off',
      ),
      fact('mode', r.mode, r.mode === 'enforce' ? '' : 'degraded'),
      fact('config version', String(r.configVersion)),
      fact('last reload error', r.configError ?? 'none', r.configError ? 'unhealthy' : ''),
      fact('version', `${doc.version}, up ${doc.uptimeSeconds} s`),
    ),
    h('h3', {}, 'Failure modes in force'),
    table(
      ['policy', 'failure mode'],
      Object.entries(r.failureModes ?? {}).map(([p, m]) => [p, String(m)]),
      'none',
    ),
    globalControls(r, refresh),
  );
}

function fact(name: string, value: string, kind = ''): HTMLElement[] {
  return [h('dt', {}, name), h('dd', { class: kind, 'data-fact': name }, value)];
}

// biome-ignore lint/suspicious/noExplicitAny: the ratelimit report of the health document
function globalControls(r: any, refresh: () => void): HTMLElement {
  const mode = choice('global-mode', ['enforce', 'shadow', 'disabled', 'config default'], r.mode);
  const circuit = choice('circuit', ['open', 'closed', 'not forced'], r.circuit?.forced ?? 'not forced');
  const platform = choice('platform', ['open', 'closed', 'not forced'], r.platform?.forced ?? 'not forced');
  const state = (v: string) => (v === 'not forced' ? null : v);
  return h(
    'section',
    { class: 'controls' },
    h('h3', {}, 'Global switches'),
    h(
      'div',
      { class: 'row' },
      h('label', {}, 'Global mode ', mode),
      control(
        'Set global mode',
        () => {
          const next = mode.value === 'config default' ? null : mode.value;
          return {
            title: 'Set the global mode',
            changes: [['global mode', r.mode, next ?? 'the configuration’s']],
            method: 'PUT',
            path: '/mode',
            body: { mode: next },
            request: `PUT /admin/ratelimit/mode {"mode":${JSON.stringify(next)}}`,
          };
        },
        refresh,
        { 'data-test': 'set-global-mode' },
      ),
      control(
        'Emergency: disable every limit',
        () => ({
          title: 'EMERGENCY: disable every limit',
          changes: [['global mode', r.mode, 'disabled: every request admitted, nothing counted']],
          method: 'PUT',
          path: '/mode',
          body: { mode: 'disabled' },
          request: 'PUT /admin/ratelimit/mode {"mode":"disabled"}',
        }),
        refresh,
        { class: 'danger', 'data-test': 'emergency' },
      ),
    ),
    h(
      'div',
      { class: 'row' },
      h('label', {}, 'Circuit ', circuit),
      control(
        'Force circuit',
        () => ({
          title: 'Force the circuit breaker',
          changes: [['circuit', r.circuit?.forced ?? 'not forced', circuit.value]],
          method: 'PUT',
          path: '/circuit',
          body: { state: state(circuit.value) },
          request: `PUT /admin/ratelimit/circuit {"state":${JSON.stringify(state(circuit.value))}}`,
        }),
        refresh,
        { 'data-test': 'force-circuit' },
      ),
      control(
        'Reset circuit',
        () => ({
          title: 'Reset the circuit breaker',
          changes: [['circuit', r.circuit?.state ?? 'none', 'closed, not forced']],
          method: 'POST',
          path: '/circuit-breaker/reset',
          request: 'POST /admin/ratelimit/circuit-breaker/reset',
        }),
        refresh,
        { 'data-test': 'reset-circuit' },
      ),
    ),
    h(
      'div',
      { class: 'row' },
      h('label', {}, 'Platform protection ', platform),
      control(
        'Force platform',
        () => ({
          title: 'Force platform protection',
          changes: [['platform', r.platform?.forced ?? 'not forced', platform.value]],
          method: 'PUT',
          path: '/platform',
          body: { state: state(platform.value) },
          request: `PUT /admin/ratelimit/platform {"state":${JSON.stringify(state(platform.value))}}`,
        }),
        refresh,
        { 'data-test': 'force-platform' },
      ),
    ),
  );
}
