import type { Algorithm } from '../../algorithms/index.js';

type Flat = Record<string, unknown>;

/** Copies a state's fields into another state of the same algorithm (same fields). */
export type Copy = (into: Flat, from: Flat) => void;

/**
 * One copier per algorithm with string states (`ledger`: a record of numbers, the same fields every
 * time), made from the fields of its first state. Each reads and writes named fields, which V8 turns
 * into plain loads and stores: a tenth of Object.assign's cost on the decision path.
 */
export class FlatCopies {
  private readonly made: Array<{ algorithm: Algorithm; copy: Copy }> = [];

  of(algorithm: Algorithm, state: unknown): Copy {
    for (const known of this.made) if (known.algorithm === algorithm) return known.copy;
    const copy = copierOf(Object.keys(state as Flat));
    this.made.push({ algorithm, copy });
    return copy;
  }
}

function copierOf(fields: readonly string[]): Copy {
  const [a = '', b = '', c = ''] = fields;
  if (fields.length === 2) {
    return (into, from) => {
      into[a] = from[a];
      into[b] = from[b];
    };
  }
  if (fields.length === 3) {
    return (into, from) => {
      into[a] = from[a];
      into[b] = from[b];
      into[c] = from[c];
    };
  }
  return (into, from) => {
    Object.assign(into, from);
  };
}
