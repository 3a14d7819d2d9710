/**
 * Extra table — the socket calls reuseport groups are built from (socket, setsockopt, bind,
 * listen, connect, sendto, recvfrom, accept, shutdown, getsockname, getpeername), as fixed
 * sequences on both kernels. The cases come from the differential test's socket-API worlds: each
 * one that differed became a scenario here (DIFFERENCES.md S9–S28, L2, L3), next to guard cases that
 * agree. Ephemeral port numbers print as "eph".
 */
import assert from 'node:assert/strict';
import { AF_INET, AF_INET6, SOCK_DGRAM, SOCK_STREAM } from '../../src/kernel/index.js';
import { runSocketWorld, type SockOp } from '../support/scenario_diff_sockets.js';
import { scenarioTable, type Scenario } from '../support/scenario_runner.js';
import { KNOWN_DIFFERENCES } from './known_differences.js';

const TABLE = 'socket api';
const T = SOCK_STREAM, U = SOCK_DGRAM, V4 = AF_INET, V6 = AF_INET6;
const S = (slot: number, family: number, type: number): SockOp => ({ op: 'socket', slot, family, type });
// address indexes: v4 0 = 127.0.0.1, 1 = 0.0.0.0; v6 0 = ::1, 1 = ::, 2 = ::ffff:127.0.0.1
const P1 = 21001, P2 = 21002;

const CASES: Record<string, SockOp[]> = {
  // --- S10: UDP sendto port 0 ---
  'UDP sendto port 0 → EINVAL': [S(0, V4, U), { op: 'send', slot: 0, addr: 0, port: 0 }],
  // --- S11: v6 socket bound to a v4-mapped address, talking to a v6 address (and the reverse) ---
  'UDP6 bound v4-mapped connect to ::1 → EAFNOSUPPORT': [S(0, V6, U), { op: 'bind', slot: 0, addr: 2, port: P1 }, { op: 'connect', slot: 0, addr: 0, port: P2 }],
  'TCP6 bound v4-mapped connect to ::1 → EAFNOSUPPORT': [S(0, V6, T), { op: 'bind', slot: 0, addr: 2, port: P1 }, { op: 'connect', slot: 0, addr: 0, port: P2 }],
  'UDP6 bound v4-mapped sendto ::1 → EAFNOSUPPORT': [S(0, V6, U), { op: 'bind', slot: 0, addr: 2, port: 0 }, { op: 'send', slot: 0, addr: 0, port: P2 }],
  'UDP6 bound ::1 sendto v4-mapped → ENETUNREACH': [S(0, V6, U), { op: 'bind', slot: 0, addr: 0, port: 0 }, { op: 'send', slot: 0, addr: 2, port: P2 }],
  'UDP6 connected to ::1 then sendto v4-mapped → ok': [S(0, V6, U), { op: 'connect', slot: 0, addr: 0, port: P1 }, { op: 'send', slot: 0, addr: 2, port: P2 }],
  'UDP6 reconnect from ::1 to v4-mapped → ok': [S(0, V6, U), { op: 'connect', slot: 0, addr: 0, port: P1 }, { op: 'connect', slot: 0, addr: 2, port: P1 }],
  'UDP6 autobound by sendto v4-mapped then connect ::1 → ok': [S(0, V6, U), { op: 'send', slot: 0, addr: 2, port: P1 }, { op: 'connect', slot: 0, addr: 0, port: P2 }],
  // --- S17: ICMP errors reach a connected UDP socket only for its own peer ---
  'UDP6 connected socket: ICMP for a datagram to another port is not reported': [S(0, V6, U), { op: 'bind', slot: 0, addr: 1, port: P1 }, { op: 'connect', slot: 0, addr: 0, port: P1 }, { op: 'send', slot: 0, addr: 0, port: P2 }, { op: 'recv', slot: 0 }],
  // --- S18: TCP connect() to its own bound address (simultaneous open) ---
  'TCP connect to its own address:port → ok (self-connect)': [S(0, V4, T), { op: 'bind', slot: 0, addr: 0, port: P2 }, { op: 'connect', slot: 0, addr: 0, port: P2 }, { op: 'names', slot: 0 }],
  // --- S19–S21: after the LinuxKernel connect() fix (L2) ---
  'TCP recv after a refused connect() → ENOTCONN': [S(0, V4, T), { op: 'connect', slot: 0, addr: 0, port: P1 }, { op: 'recv', slot: 0 }],
  'TCP6 connect ::1 after a refused v4-mapped connect → ETIMEDOUT': [S(0, V6, T), { op: 'connect', slot: 0, addr: 2, port: P1 }, { op: 'connect', slot: 0, addr: 0, port: P1 }],
  'TCP bound 0.0.0.0 self-connect: local address becomes 127.0.0.1': [S(0, V4, T), { op: 'bind', slot: 0, addr: 1, port: P2 }, { op: 'connect', slot: 0, addr: 0, port: P2 }, { op: 'names', slot: 0 }],
  // --- S22: UDP sendto() check order: port 0 before the address family / route, the pending ICMP error after both ---
  'UDP6 bound v4-mapped sendto ::1 port 0 → EINVAL (before EAFNOSUPPORT)': [S(0, V6, U), { op: 'bind', slot: 0, addr: 2, port: 0 }, { op: 'send', slot: 0, addr: 0, port: 0 }, { op: 'send', slot: 0, addr: 0, port: P1 }],
  'UDP sendto port 0 with an ICMP error pending → EINVAL, the error stays': [S(0, V4, U), { op: 'connect', slot: 0, addr: 0, port: P1 }, { op: 'send', slot: 0 }, { op: 'send', slot: 0, addr: 0, port: 0 }, { op: 'send', slot: 0 }, { op: 'send', slot: 0 }],
  // --- S23: bind() to a specific IPv6 address makes the socket IPv6-only ---
  'UDP6 bound ::1 sendto v4-mapped port 0 → ENETUNREACH (bind set V6ONLY)': [S(0, V6, U), { op: 'bind', slot: 0, addr: 0, port: 0 }, { op: 'send', slot: 0, addr: 2, port: 0 }],
  // --- S24: an ICMP error reaches a UDP socket connected to port 0 whatever port the datagram went to ---
  'UDP connected to port 0: ICMP for a datagram to another port is reported': [S(0, V4, U), { op: 'connect', slot: 0, addr: 0, port: 0 }, { op: 'send', slot: 0, addr: 0, port: P2 }, { op: 'send', slot: 0 }, { op: 'recv', slot: 0 }],
  // --- S25: UDP connect() autobinds before it looks at the address ---
  'UDP6 V6ONLY connect v4-mapped → ENETUNREACH, but the socket is autobound': [S(0, V6, U), { op: 'opt', slot: 0, name: 'IPV6_V6ONLY', value: 1 }, { op: 'connect', slot: 0, addr: 2, port: P1 }, { op: 'names', slot: 0 }, { op: 'opt', slot: 0, name: 'IPV6_V6ONLY', value: 0 }],
  // --- S26: TCP self-connect details ---
  'TCP self-connect wins over a listener sharing the port': [S(0, V4, T), { op: 'opt', slot: 0, name: 'SO_REUSEPORT', value: 1 }, { op: 'bind', slot: 0, addr: 0, port: P2 }, { op: 'listen', slot: 0 }, S(1, V4, T), { op: 'opt', slot: 1, name: 'SO_REUSEPORT', value: 1 }, { op: 'bind', slot: 1, addr: 1, port: P2 }, { op: 'connect', slot: 1, addr: 0, port: P2 }, { op: 'accept', slot: 0 }, { op: 'send', slot: 1 }, { op: 'recv', slot: 1 }],
  'TCP self-connect after shutdown(SHUT_WR) → ECONNABORTED, then ok': [S(0, V4, T), { op: 'bind', slot: 0, addr: 0, port: P2 }, { op: 'shutdown', slot: 0, how: 1 }, { op: 'connect', slot: 0, addr: 0, port: P2 }, { op: 'names', slot: 0 }, { op: 'recv', slot: 0 }, { op: 'connect', slot: 0, addr: 0, port: P2 }, { op: 'names', slot: 0 }],
  'TCP self-connected socket: shutdown(SHUT_WR) closes it': [S(0, V6, T), { op: 'bind', slot: 0, addr: 2, port: P2 }, { op: 'connect', slot: 0, addr: 2, port: P2 }, { op: 'shutdown', slot: 0, how: 1 }, { op: 'names', slot: 0 }, { op: 'recv', slot: 0 }, { op: 'listen', slot: 0 }, { op: 'bind', slot: 0, addr: 2, port: P1 }],
  'TCP close of a self-connected socket leaves TIME_WAIT on its port: bind → EADDRINUSE': [S(0, V4, T), { op: 'bind', slot: 0, addr: 0, port: P1 }, { op: 'connect', slot: 0, addr: 0, port: P1 }, { op: 'close', slot: 0 }, S(0, V6, T), { op: 'bind', slot: 0, addr: 1, port: P1 }, { op: 'listen', slot: 0 }, { op: 'names', slot: 0 }],
  // --- S27: the end of a TCP connection (RST/FIN): tcp_done, SOCK_DONE, SS_CONNECTED ---
  'TCP after the peer closed: RST in CLOSE_WAIT, recv EOF, listen EINVAL, connect EISCONN, bind ok': [S(0, V4, T), { op: 'bind', slot: 0, addr: 1, port: P1 }, { op: 'listen', slot: 0 }, S(1, V4, T), { op: 'connect', slot: 1, addr: 0, port: P1 }, { op: 'accept', slot: 0 }, { op: 'send', slot: 1 }, { op: 'recv', slot: 1 }, { op: 'recv', slot: 1 }, { op: 'names', slot: 1 }, { op: 'listen', slot: 1 }, { op: 'connect', slot: 1, addr: 0, port: P1 }, { op: 'bind', slot: 1, addr: 0, port: P2 }],
  'TCP close with unread data resets the peer (ECONNRESET, then EOF)': [S(0, V4, T), { op: 'bind', slot: 0, addr: 1, port: P1 }, { op: 'listen', slot: 0 }, S(1, V4, T), { op: 'connect', slot: 1, addr: 0, port: P1 }, { op: 'send', slot: 1 }, { op: 'accept', slot: 0 }, { op: 'recv', slot: 1 }, { op: 'recv', slot: 1 }, { op: 'send', slot: 1 }],
  'TCP listener shutdown(SHUT_RDWR) clears the bits an earlier shutdown set: recv → ENOTCONN': [S(0, V6, T), { op: 'shutdown', slot: 0, how: 2 }, { op: 'listen', slot: 0 }, { op: 'shutdown', slot: 0, how: 2 }, { op: 'recv', slot: 0 }, { op: 'names', slot: 0 }],
  // --- L3 (LinuxKernel wrapper): poll() sees POLLHUP from the shutdown bits, the unanswered SYN is reported as connected ---
  'TCP6 connect ::1 after a refused v4-mapped connect with shutdown(SHUT_RDWR) before it → ETIMEDOUT': [S(0, V6, T), { op: 'connect', slot: 0, addr: 2, port: P1 }, { op: 'shutdown', slot: 0, how: 2 }, { op: 'connect', slot: 0, addr: 0, port: P1 }, { op: 'names', slot: 0 }],
  // --- S28: TCP is a byte stream: one recv() returns the bytes of several sends ---
  'TCP recv returns the bytes of two sends at once': [S(0, V4, T), { op: 'bind', slot: 0, addr: 0, port: P2 }, { op: 'connect', slot: 0, addr: 0, port: P2 }, { op: 'send', slot: 0 }, { op: 'send', slot: 0 }, { op: 'recv', slot: 0 }, { op: 'recv', slot: 0 }],
  // --- S12: the local address of a UDP socket autobound by sendto() ---
  'UDP sendto autobinds to the wildcard address': [S(0, V4, U), { op: 'send', slot: 0, addr: 0, port: P1 }, { op: 'names', slot: 0 }],
  'UDP6 sendto autobinds to the wildcard address': [S(0, V6, U), { op: 'send', slot: 0, addr: 0, port: P1 }, { op: 'names', slot: 0 }],
  // --- S13: send() after the peer closed ---
  'TCP send after the accepted peer closed → ok (then RST)': [S(0, V4, T), { op: 'bind', slot: 0, addr: 1, port: P1 }, { op: 'listen', slot: 0 }, S(1, V4, T), { op: 'connect', slot: 1, addr: 1, port: P1 }, { op: 'names', slot: 1 }, { op: 'accept', slot: 0 }, { op: 'recv', slot: 1 }, { op: 'send', slot: 1 }, { op: 'names', slot: 1 }],
  // --- S14: UDP connect() to port 0 ---
  'UDP connect to port 0: getpeername → ENOTCONN': [S(0, V4, U), { op: 'connect', slot: 0, addr: 0, port: 0 }, { op: 'names', slot: 0 }, { op: 'send', slot: 0 }],
  'UDP6 connect to v4-mapped port 0: send → EINVAL': [S(0, V6, U), { op: 'connect', slot: 0, addr: 2, port: 0 }, { op: 'names', slot: 0 }, { op: 'send', slot: 0 }],
  'TCP shutdown(SHUT_RDWR) unconnected: ENOTCONN, but recv → EOF': [S(0, V4, T), { op: 'shutdown', slot: 0, how: 2 }, { op: 'recv', slot: 0 }],
  // --- S16: send() without a destination autobinds before failing ---
  'UDP send without destination autobinds, then EDESTADDRREQ': [S(0, V6, U), { op: 'send', slot: 0 }, { op: 'names', slot: 0 }, { op: 'bind', slot: 0, addr: 0, port: 0 }, { op: 'opt', slot: 0, name: 'IPV6_V6ONLY', value: 1 }, S(1, V4, U), { op: 'send', slot: 1 }, { op: 'names', slot: 1 }],
  // --- S15: shutdown() of an unconnected UDP socket ---
  'UDP shutdown(SHUT_WR) unconnected: ENOTCONN, but later sends → EPIPE': [S(0, V4, U), { op: 'shutdown', slot: 0, how: 1 }, { op: 'send', slot: 0, addr: 0, port: P1 }, { op: 'shutdown', slot: 0, how: 0 }, { op: 'recv', slot: 0 }],
  // --- guards (agree) ---
  'IPV6_V6ONLY socket: bind v4-mapped → EINVAL': [S(0, V6, U), { op: 'opt', slot: 0, name: 'IPV6_V6ONLY', value: 1 }, { op: 'bind', slot: 0, addr: 2, port: P1 }],
  'bind twice → EINVAL; same port → EADDRINUSE': [S(0, V4, U), { op: 'bind', slot: 0, addr: 0, port: P1 }, { op: 'bind', slot: 0, addr: 0, port: P2 }, S(1, V4, U), { op: 'bind', slot: 1, addr: 0, port: P1 }, { op: 'bind', slot: 1, addr: 0, port: P2 }],
  'bind after an autobind (connect, sendto, listen) → EINVAL': [S(0, V4, U), { op: 'connect', slot: 0, addr: 0, port: P1 }, { op: 'bind', slot: 0, addr: 0, port: P2 }, S(1, V4, U), { op: 'send', slot: 1, addr: 0, port: P1 }, { op: 'bind', slot: 1, addr: 0, port: P2 }, S(2, V4, T), { op: 'listen', slot: 2 }, { op: 'bind', slot: 2, addr: 0, port: P2 }],
  'UDP6 connect: local and peer address': [S(0, V6, U), { op: 'connect', slot: 0, addr: 0, port: P1 }, { op: 'names', slot: 0 }],
  'TCP send unconnected → EPIPE; UDP without address → EDESTADDRREQ': [S(0, V4, T), { op: 'send', slot: 0 }, { op: 'send', slot: 0, addr: 0, port: P1 }, S(1, V4, U), { op: 'send', slot: 1 }],
  'TCP send after ECONNREFUSED → EPIPE': [S(0, V6, T), { op: 'connect', slot: 0, addr: 0, port: P1 }, { op: 'send', slot: 0, addr: 0, port: P1 }, { op: 'send', slot: 0 }],
  'TCP6 listen autobinds to [::]': [S(0, V6, T), { op: 'listen', slot: 0 }, { op: 'names', slot: 0 }],
  'UDP6 sendto v4-mapped (unbound, bound [::], V6ONLY)': [S(0, V6, U), { op: 'send', slot: 0, addr: 2, port: P2 }, S(1, V6, U), { op: 'bind', slot: 1, addr: 1, port: 0 }, { op: 'send', slot: 1, addr: 2, port: P2 }, S(2, V6, U), { op: 'opt', slot: 2, name: 'IPV6_V6ONLY', value: 1 }, { op: 'send', slot: 2, addr: 2, port: P2 }],
};

const scenarios: Scenario[] = Object.entries(CASES).map(([name, ops]) => ({ name, run: (c) => runSocketWorld(c, { seed: 0, ops }) }));

// --- after a refused TCP connect(): what a blocking connect() leaves behind (verified with a
// blocking connect in a private netns: ECONNREFUSED again, listen() ok, local address reset to
// the wildcard with the port kept). Kernel.connect() "completes the handshake or throws".
scenarios.push({
  name: 'TCP connect() again after ECONNREFUSED → ECONNREFUSED; local address reset to 0.0.0.0',
  run(c) {
    const { k } = c;
    const s = c.own(k.socket(V4, T, 0));
    c.fails('connect 127.0.0.1:21001', 'ECONNREFUSED', () => k.connect(s, '127.0.0.1', P1));
    const a = k.getsockname(s);
    c.note(`getsockname: ${a.address}:${a.port === 0 ? 0 : 'eph'}`);
    assert.equal(a.address, '0.0.0.0', 'the local address an autobind chose is reset (tcp_disconnect/inet_reset_saddr)');
    assert.notEqual(a.port, 0, 'the port is kept (inet_sport)');
    c.fails('connect again', 'ECONNREFUSED', () => k.connect(s, '127.0.0.1', P1));
  },
});
scenarios.push({
  name: 'TCP6 connect() to v4-mapped refused: local address reset to ::',
  run(c) {
    const { k } = c;
    const s = c.own(k.socket(V6, T, 0));
    c.fails('connect ::ffff:127.0.0.1:21001', 'ECONNREFUSED', () => k.connect(s, '::ffff:127.0.0.1', P1));
    const a = k.getsockname(s);
    c.note(`getsockname: ${a.address}`);
    assert.equal(a.address, '::', 'the local address an autobind chose is reset');
  },
});
scenarios.push({
  name: 'TCP listen() after a refused connect() → ok',
  run(c) {
    const { k } = c;
    const s = c.own(k.socket(V4, T, 0));
    c.fails('connect 127.0.0.1:21001', 'ECONNREFUSED', () => k.connect(s, '127.0.0.1', P1));
    c.ok('listen', () => k.listen(s, 8));
  },
});

await scenarioTable(TABLE, scenarios, { known: KNOWN_DIFFERENCES });
