/**
 * Scenarios where the simulator is known to disagree with Linux. Each entry names its
 * DIFFERENCES.md id; the runner marks the sim test (and the sim = linux comparison) `todo`
 * with that id, so it still runs and reports. Remove an entry when the sim is fixed.
 */
import type { KnownDifference } from '../support/scenario_runner.js';

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  { id: 'S7', table: 'sk_reuseport verifier', match: /^helpers /, summary: 'sim refuses 54 base-list helpers Linux offers to SK_REUSEPORT (EINVAL instead of EACCES/0)' },
  { id: 'S8', table: 'attach and create', match: /XDP program/, summary: 'sim does not load XDP programs (EINVAL: type not simulated)' },
  { id: 'S9', table: 'socket api', match: /local address reset/, summary: 'after a refused connect Linux resets an autobound local address to the wildcard (port kept); sim keeps the loopback' },
  { id: 'L2', kernel: 'linux', table: 'socket api', match: /connect\(\) again after ECONNREFUSED|refused: local address reset|listen\(\) after a refused/, summary: 'LinuxKernel connect() is a non-blocking connect + SO_ERROR: after a refusal the socket stays SS_CONNECTING (connect again ECONNABORTED, listen EINVAL, local address not reset)' },
  { id: 'S10', table: 'socket api', match: /UDP sendto port 0/, summary: 'UDP sendto port 0: Linux EINVAL' },
  { id: 'S11', table: 'socket api', match: /EAFNOSUPPORT|ENETUNREACH/, summary: 'v4-mapped vs v6 address mix: Linux EAFNOSUPPORT / ENETUNREACH, sim EINVAL' },
  { id: 'S12', table: 'socket api', match: /autobinds to the wildcard/, summary: 'UDP autobound by sendto reports the wildcard local address on Linux' },
  { id: 'S13', table: 'socket api', match: /after the accepted peer closed/, summary: 'TCP send after the peer closed: Linux ok (CLOSE_WAIT), sim EPIPE' },
  { id: 'S14', table: 'socket api', match: /connect to (v4-mapped )?port 0/, summary: 'UDP connect to port 0: Linux getpeername ENOTCONN (UDP6 v4-mapped: send EINVAL)' },
  { id: 'S11', table: 'socket api', match: /UDP6 (connected to ::1 then sendto v4-mapped|autobound by sendto v4-mapped|reconnect from ::1 to v4-mapped)/, summary: 'a UDP6 socket not bound to an address may mix v6 and v4-mapped peers on Linux; sim EINVAL' },
  { id: 'S17', table: 'socket api', match: /ICMP for a datagram to another port/, summary: 'ICMP errors for datagrams to other destinations are not reported on a connected UDP socket on Linux' },
  { id: 'S18', table: 'socket api', match: /self-connect/, summary: 'TCP self-connect (simultaneous open) succeeds on Linux; sim ECONNREFUSED' },
  { id: 'S16', table: 'socket api', match: /without destination autobinds/, summary: 'UDP send() without a destination autobinds before EDESTADDRREQ on Linux' },
  { id: 'S15', table: 'socket api', match: /shutdown\(SHUT_(WR|RDWR)\) unconnected/, summary: 'shutdown of an unconnected UDP socket still sets the shutdown bits on Linux (send → EPIPE)' },
  { id: 'S9–S18, L2', table: 'differential', match: /socket API/, summary: 'socket-API worlds hit the socket edge cases S9–S16 / L2 at random' },
];
