/** The live decisions-per-second chart (uPlot): one series per outcome, the last 60 seconds. */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

// The outcomes as the service counts them: one list, shared with the server's observability layer.
import { OUTCOMES, type Outcome } from '../../src/observability/outcome.js';
import { h } from './dom';

export { OUTCOMES, type Outcome };
export type Counts = Record<Outcome, number>;
export interface Point {
  second: number;
  counts: Counts;
}

const COLORS: Record<Outcome, string> = {
  allowed: '#2e7d32',
  rejected: '#c62828',
  shed: '#ef6c00',
  blocked: '#6a1b9a',
  fail_open: '#f9a825',
  fail_closed: '#37474f',
  shadow_rejected: '#1565c0',
};

/** A live chart and, under it, each outcome's total over the window shown (exact counts). */
export class LiveChart {
  readonly element: HTMLElement;
  private readonly plot: uPlot;
  private readonly totals = new Map<Outcome, HTMLElement>();
  private points: Point[] = [];

  constructor(
    title: string,
    private readonly width: number,
    private readonly window = 60,
  ) {
    const holder = h('div', { class: 'plot' });
    const legend = h('ul', { class: 'totals' });
    for (const o of OUTCOMES) {
      const value = h('b', { 'data-outcome': o }, '0');
      this.totals.set(o, value);
      legend.append(h('li', {}, h('i', { class: `swatch ${o}` }), `${o.replace('_', '-')} `, value));
    }
    this.element = h(
      'figure',
      { class: 'chart', 'data-total': '0' },
      h('figcaption', {}, title),
      holder,
      legend,
    );
    this.plot = new uPlot(this.options(), [[], ...OUTCOMES.map(() => [])], holder);
  }

  private options(): uPlot.Options {
    return {
      width: this.width,
      height: 220,
      legend: { show: false },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(5, Math.ceil(max * 1.1))] } },
      axes: [{}, { label: 'decisions/s', size: 60 }],
      series: [
        {},
        ...OUTCOMES.map((o) => ({
          label: o,
          stroke: COLORS[o],
          width: 2,
          fill: `${COLORS[o]}18`,
          points: { show: false },
        })),
      ],
    };
  }

  /** Replaces the window (a snapshot). */
  reset(points: Point[]): void {
    this.points = points.slice(-this.window);
    this.draw();
  }

  push(point: Point): void {
    this.points.push(point);
    if (this.points.length > this.window) this.points.shift();
    this.draw();
  }

  resize(width: number): void {
    this.plot.setSize({ width, height: 220 });
  }

  private draw(): void {
    const xs = this.points.map((p) => p.second);
    const ys = OUTCOMES.map((o) => this.points.map((p) => p.counts[o]));
    this.plot.setData([xs, ...ys]);
    let all = 0;
    for (const [i, o] of OUTCOMES.entries()) {
      const sum = (ys[i] ?? []).reduce((a, b) => a + b, 0);
      all += sum;
      (this.totals.get(o) as HTMLElement).textContent = String(sum);
    }
    this.element.dataset.total = String(all);
  }
}
