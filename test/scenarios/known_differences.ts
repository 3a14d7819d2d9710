/**
 * Scenarios where the simulator is known to disagree with Linux. Each entry names its
 * DIFFERENCES.md id; the runner marks the sim test (and the sim = linux comparison) `todo`
 * with that id, so it still runs and reports. Remove an entry when the sim is fixed.
 */
import type { KnownDifference } from '../support/scenario_runner.js';

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  { id: 'S7', table: 'sk_reuseport verifier', match: /^helpers /, summary: 'sim refuses 54 base-list helpers Linux offers to SK_REUSEPORT (EINVAL instead of EACCES/0)' },
  { id: 'S8', table: 'attach and create', match: /XDP program/, summary: 'sim does not load XDP programs (EINVAL: type not simulated)' },
];
