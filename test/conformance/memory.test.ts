import { describe } from 'vitest';
import { memoryHarness } from './harness.js';
import { conformanceSuite } from './suite.js';

describe('conformance: memory store (driven clock, exact)', () => {
  conformanceSuite(memoryHarness);
});
