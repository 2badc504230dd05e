/**
 * What kind of failure an error is. Read from its name and code, not `instanceof`: each entry point
 * of the package is bundled with its own copy of the error classes, so a ValidationError thrown by a
 * Limiter imported from `sluice` is not an instance of the one `sluice/envoy` bundles.
 */
export function failureOf(error: unknown): 'invalid' | 'store' | 'internal' {
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
  if (name === 'StoreError') return 'store';
  if (name === 'ValidationError' || name === 'ConfigError') return 'invalid';
  if (typeof code === 'string' && code.startsWith('ERR_SLUICE_'))
    return code === 'ERR_SLUICE_STORE' ? 'store' : 'invalid';
  return 'internal';
}

/** The field a ValidationError names, if any. */
export function fieldOf(error: unknown): string | undefined {
  const field = (error as { field?: unknown } | undefined)?.field;
  return typeof field === 'string' ? field : undefined;
}
