/**
 * Counters and a histogram for the decision path, registered on a prom-client Registry as custom
 * metrics (an object with `name`, `help` and `get()`): a decision finds its series in a tree of Maps
 * by its label values, in order (strings that already exist, whose hashes V8 keeps), and adds to it,
 * where prom-client's own would hash and validate a labels object on every call (more than the rest
 * of an in-process decision). Exposition is prom-client's.
 */
import type { Registry } from 'prom-client';

type Labels = Record<string, string>;

interface Sample {
  labels: Labels;
  value: number;
}

interface MetricValue {
  value: number;
  labels: Labels;
  metricName?: string;
}

/** What prom-client's Registry asks a metric for. */
interface CustomMetric {
  name: string;
  help: string;
  get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: 'sum' }>;
}

function register(registry: Registry, metric: CustomMetric): void {
  (registry as unknown as { registerMetric(m: CustomMetric): void }).registerMetric(metric);
}

/** Series of one family, found by their label values in order (see the module comment). */
class SeriesTree<T> {
  private readonly root = new Map<string, unknown>();
  readonly all = new Set<T & { labels: Labels }>();

  constructor(
    private readonly labelNames: readonly string[],
    private readonly make: (labels: Labels) => T & { labels: Labels },
  ) {}

  find(values: readonly string[]): T & { labels: Labels } {
    let node = this.root;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      let next = node.get(values[i] as string) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        node.set(values[i] as string, next);
      }
      node = next;
    }
    let leaf = node.get(values[last] as string) as (T & { labels: Labels }) | undefined;
    if (leaf === undefined) {
      const labels: Labels = {};
      this.labelNames.forEach((name, i) => {
        labels[name] = values[i] as string;
      });
      leaf = this.make(labels);
      node.set(values[last] as string, leaf);
      this.all.add(leaf);
    }
    return leaf;
  }

  /** Drops the series whose labels match (they start again from 0 if seen again). */
  remove(match: (labels: Labels) => boolean): void {
    for (const leaf of this.all) {
      if (!match(leaf.labels)) continue;
      this.all.delete(leaf);
      let node = this.root;
      const values = this.labelNames.map((name) => leaf.labels[name] as string);
      for (let i = 0; i < values.length - 1 && node; i++)
        node = node.get(values[i] as string) as Map<string, unknown>;
      node?.delete(values[values.length - 1] as string);
    }
  }
}

/** A counter family labeled by `labelNames`. */
export class FastCounter implements CustomMetric {
  private readonly series: SeriesTree<Sample>;

  constructor(
    readonly name: string,
    readonly help: string,
    labelNames: readonly string[],
    registry: Registry,
  ) {
    this.series = new SeriesTree(labelNames, (labels) => ({ labels, value: 0 }));
    register(registry, this);
  }

  /** Adds `by` to the series of these label values (in the order of `labelNames`). */
  inc(values: readonly string[], by = 1): void {
    this.series.find(values).value += by;
  }

  remove(match: (labels: Labels) => boolean): void {
    this.series.remove(match);
  }

  async get() {
    const values = [...this.series.all].map((s) => ({ labels: s.labels, value: s.value }));
    return { name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' as const };
  }
}

interface HistogramSeries {
  labels: Labels;
  /** Observations per bucket (not cumulative), the last one +Inf. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

/** A histogram family with fixed bucket bounds (seconds), labeled by `labelNames`. */
export class FastHistogram implements CustomMetric {
  private readonly series: SeriesTree<HistogramSeries>;

  constructor(
    readonly name: string,
    readonly help: string,
    labelNames: readonly string[],
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    this.series = new SeriesTree(labelNames, (labels) => ({
      labels,
      buckets: new Float64Array(bounds.length + 1),
      sum: 0,
      count: 0,
    }));
    register(registry, this);
  }

  observe(values: readonly string[], value: number): void {
    const series = this.series.find(values);
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    series.buckets[i] = (series.buckets[i] as number) + 1;
    series.sum += value;
    series.count++;
  }

  async get() {
    const values: MetricValue[] = [];
    for (const s of this.series.all) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.buckets[i] as number;
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { ...s.labels, le: String(le) },
          value: cumulative,
        });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' as const };
  }
}
