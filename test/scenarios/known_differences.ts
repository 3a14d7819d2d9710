/**
 * Scenarios where the simulator is known to disagree with Linux. Each entry names its
 * DIFFERENCES.md id; the runner marks the sim test (and the sim = linux comparison) `todo`
 * with that id, so it still runs and reports. Remove an entry when the sim is fixed.
 */
import type { KnownDifference } from '../support/scenario_runner.js';

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    id: 'L1', kernel: 'linux', table: 'reuseport_bpf', match: /CBPF|test_filter_without_bind/,
    summary: 'LinuxKernel passes SO_ATTACH_REUSEPORT_CBPF sock_filter bytes raw instead of a struct sock_fprog → EINVAL',
  },
];
