/**
 * Scenarios where the simulator is known to disagree with Linux. Each entry names its
 * DIFFERENCES.md id; the runner marks the sim test (and the sim = linux comparison) `todo`
 * with that id, so it still runs and reports. Remove an entry when the sim is fixed.
 */
import type { KnownDifference } from '../support/scenario_runner.js';

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  { id: 'S19', table: 'socket api', match: /recv after a refused connect/, summary: 'recv() after a refused connect(): Linux ENOTCONN, sim 0 bytes (EOF)' },
  { id: 'S20', table: 'socket api', match: /after a refused v4-mapped connect/, summary: 'TCP6 connect(::1) after a refused v4-mapped connect: Linux ETIMEDOUT, sim ECONNREFUSED' },
  { id: 'S21', table: 'socket api', match: /self-connect: local address/, summary: 'TCP self-connect of a socket bound to 0.0.0.0: Linux sets the local address to 127.0.0.1, sim keeps 0.0.0.0' },
  { id: 'S19–S21', table: 'differential', match: /socket API/, summary: 'socket-API worlds hit S19–S21 at random' },
];
