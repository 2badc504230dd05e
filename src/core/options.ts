import { ValidationError } from './errors.js';

/**
 * Options objects are validated as strictly as the configuration document: a misspelt or unknown key
 * is an error naming it and the accepted names, never silently ignored (`{ failuremode: 'open' }`
 * would otherwise leave the limiter failing closed, with nothing said).
 */
export function rejectUnknownKeys(value: unknown, field: string, known: readonly string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError('ERR_SLUICE_INVALID_OPTION', field, 'must be an object');
  }
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const close = known.find(
      (k) => k.toLowerCase() === key.toLowerCase() || k === `${key}s` || `${k}s` === key,
    );
    throw new ValidationError(
      'ERR_SLUICE_INVALID_OPTION',
      field === 'options' ? key : `${field}.${key}`,
      `unknown option${close ? ` (did you mean "${close}"?)` : ''}; expected one of ${known.join(', ')}`,
    );
  }
}
