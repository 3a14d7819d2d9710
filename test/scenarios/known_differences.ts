/**
 * Scenarios where the simulator is known to disagree with Linux. Each entry names its
 * DIFFERENCES.md id; the runner marks the sim test (and the sim = linux comparison) `todo`
 * with that id, so it still runs and reports. Remove an entry when the sim is fixed.
 */
import type { KnownDifference } from '../support/scenario_runner.js';

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
];
