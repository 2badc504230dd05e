import { createLogAlgorithm } from '../sliding-log/index.js';

/**
 * Concurrency: at most `limit` leases in flight. A lease is a log entry timestamped when acquired (or
 * last extended); `window` is its time-to-live, so a holder that crashes frees its slot when the
 * entry leaves the window. `release` removes the entries early. Same storage as the sliding log.
 */
export const concurrency = createLogAlgorithm('concurrency', 'cc');
