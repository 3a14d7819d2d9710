/**
 * Scenarios where the simulator is known to disagree with Linux. Each entry names its
 * DIFFERENCES.md id; the runner marks the sim test (and the sim = linux comparison) `todo`
 * with that id, so it still runs and reports. Remove an entry when the sim is fixed.
 */
import type { KnownDifference } from '../support/scenario_runner.js';

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  { id: 'S1', table: 'select_reuseport', match: /./, summary: 'sim has no net.ipv4.tcp_syncookies (ENOENT) and no SYN-cookie path' },
  { id: 'S2', table: 'select_reuseport', match: /\/UDP /, summary: 'sim poll() returns writable-only sockets (POLLOUT)' },
  { id: 'S3', table: 'select_reuseport', match: /\/TCP .*test_err_/, summary: 'sim getsockname() of a refused TFO client gives port 0' },
  { id: 'S2', table: 'reuseport_bpf', match: /UDP .*(EBPF|CBPF)/, summary: 'sim poll() returns writable-only sockets (POLLOUT)' },
  { id: 'S4', table: 'migrate_reuseport', match: /SYN_RECV/, summary: 'sim client write() after connect() with holdAcks() fails EPIPE' },
  { id: 'S2', table: 'differential', match: /\/UDP /, summary: 'sim poll() returns writable-only sockets (POLLOUT)' },
];
