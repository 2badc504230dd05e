// Replaced at build time by tsup (and by Vitest's define) with package.json's version.
declare const __SLUICE_VERSION__: string | undefined;

/** Sluice's version, as package.json gives it. */
export const VERSION: string = typeof __SLUICE_VERSION__ === 'string' ? __SLUICE_VERSION__ : 'dev';
