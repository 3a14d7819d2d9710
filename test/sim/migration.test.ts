/** TCP listener migration (§5): sysctl, SELECT_OR_MIGRATE programs, SK_DROP, re-listen, request sockets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AF_INET, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, POLLIN, POLLNVAL, SHUT_RDWR, SOCK_STREAM, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, SO_COOKIE,
  SO_REUSEPORT,
} from '../../src/kernel/index.js';
import { SimKernel, loadAsm, readU32, sockarray, throwsErrno, u32, u64 } from './helpers.js';

const MSG = new TextEncoder().encode('Hello World');

/** migrate_map[cookie of the closing listener] -> sockarray index; no entry: SK_DROP (cancel). */
const MIGRATE_PROG = `
  mov %r6, %r1
  ldxdw %r2, [%r1+48]
  jne %r2, 0, mig
  mov %r0, 1
  exit
mig:
  ldxw %r7, [%r2+72]
  ldxw %r8, [%r6+16]
  ldxdw %r1, [%r6+40]
  call get_socket_cookie
  stxdw [%r10-8], %r0
  lddw %r1, map_fd migrate
  mov %r2, %r10
  add %r2, -8
  call map_lookup_elem
  jne %r0, 0, found
  mov %r0, 0
  exit
found:
  mov %r1, %r6
  lddw %r2, map_fd socks
  mov %r3, %r0
  mov %r4, 0
  call sk_select_reuseport
  stxw [%r10-24], %r7
  stxw [%r10-20], %r8
  stw [%r10-28], 0
  lddw %r1, map_fd seen
  mov %r2, %r10
  add %r2, -28
  mov %r3, %r10
  add %r3, -24
  mov %r4, 0
  call map_update_elem
  mov %r0, 1
  exit`;

interface Servers { fds: number[]; port: number }
function servers(sim: SimKernel, n: number, listening: number): Servers {
  const fds: number[] = [];
  let port = 0;
  for (let i = 0; i < n; i++) {
    const fd = sim.socket(AF_INET, SOCK_STREAM);
    sim.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    sim.bind(fd, '127.0.0.1', port);
    port = sim.getsockname(fd).port;
    if (i < listening) sim.listen(fd, 128);
    fds.push(fd);
  }
  return { fds, port };
}

function clients(sim: SimKernel, port: number, n: number): number[] {
  return Array.from({ length: n }, () => {
    const c = sim.socket(AF_INET, SOCK_STREAM);
    sim.connect(c, '127.0.0.1', port);
    sim.sendto(c, MSG);
    return c;
  });
}

function acceptAll(sim: SimKernel, fd: number): number[] {
  const out: number[] = [];
  for (;;) {
    try { out.push(sim.accept(fd)); } catch { return out; }
  }
}

function setup(sim: SimKernel, n = 5): { s: Servers; socks: number; migrate: number; seen: number; prog: number } {
  const s = servers(sim, n, n - 1);
  const socks = sockarray(sim, 8);
  const migrate = sim.mapCreate({ mapType: BPF_MAP_TYPE_HASH, keySize: 8, valueSize: 4, maxEntries: 8 });
  const seen = sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 });
  const prog = loadAsm(sim, MIGRATE_PROG, { socks, migrate, seen }, 40);
  sim.setsockopt(s.fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog);
  return { s, socks, migrate, seen, prog };
}

function steer(sim: SimKernel, t: ReturnType<typeof setup>, to: number): void {
  t.s.fds.forEach((fd, i) => {
    sim.mapUpdateElem(t.socks, u32(i), u64(fd));
    const cookie = sim.getsockopt(fd, SOL_SOCKET, SO_COOKIE);
    if (i !== to) sim.mapUpdateElem(t.migrate, cookie, u32(to));
  });
}

test('SELECT_OR_MIGRATE: established children of shut-down listeners move to the selected listener', () => {
  const sim = new SimKernel({ seed: 11 });
  const t = setup(sim);
  clients(sim, t.s.port, 25);
  sim.listen(t.s.fds[4]!, 128);
  steer(sim, t, 4);
  for (let i = 0; i < 4; i++) sim.shutdown(t.s.fds[i]!, SHUT_RDWR);
  const accepted = acceptAll(sim, t.s.fds[4]!);
  assert.equal(accepted.length, 25);
  for (const fd of accepted) assert.deepEqual(sim.recvfrom(fd).data, MSG);
  assert.equal(sim.netstat.migrateReqSuccess, 25);
  const seen = sim.mapLookupElem(t.seen, u32(0));
  assert.equal(readU32(seen), 1, 'migrating_sk->state = TCP_ESTABLISHED');
  assert.equal(readU32(seen.subarray(4)), 0, 'len 0: the kernel allocated an empty skb');
});

test('SK_DROP cancels the migration: the child is reset', () => {
  const sim = new SimKernel({ seed: 12 });
  const t = setup(sim, 2);
  const cs = clients(sim, t.s.port, 3);
  sim.listen(t.s.fds[1]!, 128);
  sim.shutdown(t.s.fds[0]!, SHUT_RDWR); // no migrate_map entry -> SK_DROP
  assert.equal(acceptAll(sim, t.s.fds[1]!).length, 0);
  for (const c of cs) throwsErrno(() => sim.recvfrom(c), 'ECONNRESET');
  assert.equal(sim.netstat.migrateReqFailure, 3);
});

test('net.ipv4.tcp_migrate_req=1 without a program: hash pick among the remaining listeners', () => {
  const sim = new SimKernel({ seed: 13 });
  throwsErrno(() => sim.sysctl('net.ipv4.tcp_migrate_req', '2'), 'EINVAL');
  sim.sysctl('net.ipv4.tcp_migrate_req', '1');
  const s = servers(sim, 3, 1);
  clients(sim, s.port, 6);
  sim.listen(s.fds[1]!, 128);
  sim.listen(s.fds[2]!, 128);
  sim.close(s.fds[0]!);
  const n = acceptAll(sim, s.fds[1]!).length + acceptAll(sim, s.fds[2]!).length;
  assert.equal(n, 6);
});

test('without migration (default) closing a listener resets its queue; SELECT programs do not migrate', () => {
  const sim = new SimKernel();
  const s = servers(sim, 2, 1);
  const sel = loadAsm(sim, 'mov %r0, 1\nexit', {}, 39);
  sim.setsockopt(s.fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, sel);
  const cs = clients(sim, s.port, 2);
  sim.listen(s.fds[1]!, 128);
  sim.shutdown(s.fds[0]!, SHUT_RDWR);
  assert.equal(acceptAll(sim, s.fds[1]!).length, 0);
  for (const c of cs) throwsErrno(() => sim.recvfrom(c), 'ECONNRESET');
});

test('re-listen resurrects a shut-down listener bound to an explicit port; port-0 binds lose the port', () => {
  const sim = new SimKernel();
  sim.sysctl('net.ipv4.tcp_migrate_req', '1');
  const s = servers(sim, 3, 3);
  const g = sim.socketOf(s.fds[1]!).reuseCb!;
  sim.shutdown(s.fds[1]!, SHUT_RDWR);
  assert.equal(g.socks.length, 2);
  assert.equal(g.closed.length, 1);
  throwsErrno(() => sim.setsockopt(s.fds[1]!, SOL_SOCKET, 68, 0), 'ENOENT');
  sim.listen(s.fds[1]!, 128);
  assert.equal(g.socks.length, 3);
  assert.equal(g.closed.length, 0);
  assert.equal(sim.getsockname(s.fds[1]!).port, s.port);
  sim.shutdown(s.fds[0]!, SHUT_RDWR); // bound with port 0: the port goes at shutdown
  sim.listen(s.fds[0]!, 128);
  assert.notEqual(sim.getsockname(s.fds[0]!).port, s.port);
});

test('request sockets: held ACKs migrate on arrival (hashdance) or on the SYN+ACK timer (len 0)', () => {
  for (const viaTimer of [false, true]) {
    const sim = new SimKernel({ seed: 21 });
    const t = setup(sim, 3);
    sim.holdAcks(true);
    const cs = clients(sim, t.s.port, 4);
    sim.holdAcks(false);
    assert.equal(acceptAll(sim, t.s.fds[0]!).length + acceptAll(sim, t.s.fds[1]!).length, 0, 'no child before the final ACK');
    sim.listen(t.s.fds[2]!, 128);
    steer(sim, t, 2);
    sim.shutdown(t.s.fds[0]!, SHUT_RDWR);
    sim.shutdown(t.s.fds[1]!, SHUT_RDWR);
    if (viaTimer) sim.expireSynAckTimers();
    sim.releaseAcks();
    const accepted = acceptAll(sim, t.s.fds[2]!);
    assert.equal(accepted.length, 4);
    const seen = sim.mapLookupElem(t.seen, u32(0));
    assert.equal(readU32(seen), 12, 'TCP_NEW_SYN_RECV');
    assert.equal(readU32(seen.subarray(4)), viaTimer ? 0 : 32, viaTimer ? 'timer: empty skb' : 'ACK: 32-byte TCP header with timestamps');
    void cs;
  }
});

test('re-listen after every listener was shut down: a new group without the program (reuseport_resurrect)', () => {
  const sim = new SimKernel();
  sim.sysctl('net.ipv4.tcp_migrate_req', '1');
  const s = servers(sim, 2, 2);
  const old = sim.socketOf(s.fds[0]!).reuseCb!;
  sim.setsockopt(s.fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, loadAsm(sim, 'mov %r0, 0\nexit'));
  throwsErrno(() => sim.connect(sim.socket(AF_INET, SOCK_STREAM), '127.0.0.1', s.port), 'ECONNREFUSED');
  sim.shutdown(s.fds[1]!, SHUT_RDWR);
  sim.shutdown(s.fds[0]!, SHUT_RDWR);
  sim.listen(s.fds[1]!, 8);
  const fresh = sim.socketOf(s.fds[1]!).reuseCb!;
  assert.notEqual(fresh, old);
  assert.equal(fresh.prog, null);
  sim.connect(sim.socket(AF_INET, SOCK_STREAM), '127.0.0.1', s.port); // no program: accepted
  assert.equal(acceptAll(sim, s.fds[1]!).length, 1);
  // while a listener is left, re-listen resurrects into the old group with its program
  const t = servers(sim, 2, 2);
  const g = sim.socketOf(t.fds[0]!).reuseCb!;
  sim.shutdown(t.fds[1]!, SHUT_RDWR);
  sim.listen(t.fds[1]!, 8);
  assert.equal(sim.socketOf(t.fds[1]!).reuseCb, g);
});

/**
 * Wakeup of the target listener (upstream 3864c6ba1e04 "tcp: call sk_data_ready() after listener
 * migration"): pollEdge() is a waiter that sleeps until sk_data_ready(); accept() reads the queue.
 */
function migrateAtClose(sim: SimKernel, n: number): { t: ReturnType<typeof setup>; target: number } {
  const t = setup(sim, 3);
  clients(sim, t.s.port, n); // children on listeners 0 and 1
  const target = t.s.fds[2]!;
  sim.listen(target, 128);
  assert.deepEqual(sim.pollEdge([target]), [], 'EPOLL_CTL_ADD: not readable yet');
  steer(sim, t, 2);
  sim.shutdown(t.s.fds[0]!, SHUT_RDWR);
  sim.shutdown(t.s.fds[1]!, SHUT_RDWR);
  assert.equal(sim.netstat.migrateReqSuccess, n);
  assert.equal(sim.socketOf(target).acceptQueue.length, n);
  assert.deepEqual(sim.poll([target]), [{ fd: target, revents: POLLIN }], 'level: the children are queued');
  return { t, target };
}

test('migrationWakeup false (5.14 before 3864c6ba1e04): migrated children are queued but wake nobody until a new child arrives', () => {
  const sim = new SimKernel({ seed: 31, migrationWakeup: false });
  const { t, target } = migrateAtClose(sim, 5);
  assert.deepEqual(sim.pollEdge([target]), [], 'inet_csk_reqsk_queue_add() without sk_data_ready()');
  const first = sim.accept(target); // a nonblocking accept() reads the queue directly
  assert.deepEqual(sim.recvfrom(first).data, MSG);
  assert.deepEqual(sim.pollEdge([target]), [], 'still no wakeup');
  clients(sim, t.s.port, 1); // a new handshake: tcp_child_process() wakes the listener
  assert.deepEqual(sim.pollEdge([target]), [{ fd: target, revents: POLLIN }]);
  const rest = acceptAll(sim, target);
  assert.equal(rest.length, 5, '4 migrated + 1 new');
  for (const fd of rest) assert.deepEqual(sim.recvfrom(fd).data, MSG);
  assert.deepEqual(sim.pollEdge([target]), [], 'the wakeup was consumed and the queue is empty');
});

test('migrationWakeup default (6.18): an edge is reported right after migration, once', () => {
  const sim = new SimKernel({ seed: 31 });
  const { target } = migrateAtClose(sim, 5);
  assert.deepEqual(sim.pollEdge([target]), [{ fd: target, revents: POLLIN }], 'nsk->sk_data_ready(nsk)');
  assert.deepEqual(sim.pollEdge([target]), [], 'edge-triggered: reported once although still readable');
  assert.equal(acceptAll(sim, target).length, 5);
});

test('migrationWakeup false: EPOLL_CTL_MOD (pollRearm) finds the migrated children; the ACK and timer paths do wake', () => {
  const sim = new SimKernel({ seed: 32, migrationWakeup: false });
  const { target } = migrateAtClose(sim, 3);
  assert.deepEqual(sim.pollEdge([target]), []);
  sim.pollRearm(target); // ep_modify() polls the socket once
  assert.deepEqual(sim.pollEdge([target]), [{ fd: target, revents: POLLIN }]);
  assert.equal(acceptAll(sim, target).length, 3);

  // requests (NEW_SYN_RECV) become children only at the final ACK, which wakes the new listener
  for (const viaTimer of [false, true]) {
    const sim2 = new SimKernel({ seed: 33, migrationWakeup: false });
    const t = setup(sim2, 3);
    sim2.holdAcks(true);
    clients(sim2, t.s.port, 4);
    sim2.holdAcks(false);
    const to = t.s.fds[2]!;
    sim2.listen(to, 128);
    assert.deepEqual(sim2.pollEdge([to]), []);
    steer(sim2, t, 2);
    sim2.shutdown(t.s.fds[0]!, SHUT_RDWR);
    sim2.shutdown(t.s.fds[1]!, SHUT_RDWR);
    if (viaTimer) sim2.expireSynAckTimers();
    assert.deepEqual(sim2.pollEdge([to]), [], 'no child yet');
    sim2.releaseAcks();
    assert.deepEqual(sim2.pollEdge([to]), [{ fd: to, revents: POLLIN }], viaTimer ? 'timer path' : 'hashdance path');
    assert.equal(acceptAll(sim2, to).length, 4);
  }
});

test('migrationWakeup and pollEdge reject bad input', () => {
  assert.throws(() => new SimKernel({ migrationWakeup: 'no' as unknown as boolean }), /migrationWakeup must be a boolean/);
  const sim = new SimKernel();
  const fd = sim.socket(AF_INET, SOCK_STREAM);
  sim.close(fd);
  assert.deepEqual(sim.pollEdge([fd]), [{ fd, revents: POLLNVAL }]);
  throwsErrno(() => sim.pollRearm(fd), 'EBADF');
});

test('SK_DROP cancels the migration under either wakeup model: nothing queued, no edge, the child is reset', () => {
  for (const migrationWakeup of [true, false]) {
    const sim = new SimKernel({ seed: 34, migrationWakeup });
    const t = setup(sim, 2);
    const cs = clients(sim, t.s.port, 2);
    const to = t.s.fds[1]!;
    sim.listen(to, 128);
    assert.deepEqual(sim.pollEdge([to]), []);
    sim.shutdown(t.s.fds[0]!, SHUT_RDWR); // no migrate_map entry -> SK_DROP
    assert.deepEqual(sim.pollEdge([to]), []);
    assert.deepEqual(sim.poll([to]), []);
    for (const c of cs) throwsErrno(() => sim.recvfrom(c), 'ECONNRESET');
    assert.equal(sim.netstat.migrateReqFailure, 2);
  }
});
