/**
 * Scenarios where the simulator is known to disagree with Linux. Each entry names its
 * DIFFERENCES.md id; the runner marks the sim test (and the sim = linux comparison) `todo`
 * with that id, so it still runs and reports. Remove an entry when the sim is fixed.
 */
import type { KnownDifference } from '../support/scenario_runner.js';

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  { id: 'L3', table: 'socket api', kernel: 'linux', match: /shutdown\(SHUT_RDWR\) before/, summary: 'LinuxKernel.connect() reports ok for a SYN still unanswered when poll() sees POLLHUP left by an earlier shutdown() (a blocking connect keeps waiting: ETIMEDOUT)' },
  { id: 'L3', table: 'differential', kernel: 'linux', match: /L3 pattern/, summary: 'socket-API world that may hit L3 (shutdown(SHUT_RDWR) of an unconnected TCP6 socket whose SYN then goes unanswered)' },
];
