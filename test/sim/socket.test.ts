/** Sockets: bind conflicts, dual stack, ephemeral ports, TCP handshake/accept, UDP queues, errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AF_INET, AF_INET6, AF_UNIX, IPPROTO_UDP, IPV6_V6ONLY, POLLERR, POLLIN, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM, SOL_IPV6,
  SOL_SOCKET, SO_COOKIE, SO_ERROR, SO_RCVBUF, SO_REUSEADDR, SO_REUSEPORT, SHUT_WR,
} from '../../src/kernel/index.js';
import { SimKernel, group, readU32, readU64, throwsErrno } from './helpers.js';

const udp = (sim: SimKernel, fam = AF_INET): number => sim.socket(fam, SOCK_DGRAM);
const tcp = (sim: SimKernel, fam = AF_INET): number => sim.socket(fam, SOCK_STREAM);
const reuseport = (sim: SimKernel, fd: number): number => { sim.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1); return fd; };

test('socket(): families, types and the kernel errnos', () => {
  const sim = new SimKernel();
  throwsErrno(() => sim.socket(99, SOCK_STREAM), 'EAFNOSUPPORT');
  throwsErrno(() => sim.socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), 'EPROTONOSUPPORT');
  throwsErrno(() => sim.socket(AF_INET, 9), 'ESOCKTNOSUPPORT');
  throwsErrno(() => new SimKernel({ capabilities: [] }).socket(AF_INET6, SOCK_RAW, IPPROTO_UDP), 'EPERM');
  const unix = sim.socket(AF_UNIX, SOCK_STREAM);
  throwsErrno(() => sim.setsockopt(unix, SOL_SOCKET, SO_REUSEPORT, 1), 'EOPNOTSUPP');
  throwsErrno(() => sim.bind(99, '127.0.0.1', 0), 'EBADF');
});

test('bind(): same port needs SO_REUSEPORT on both, same uid; wildcard overlaps specific', () => {
  const sim = new SimKernel();
  const a = udp(sim);
  sim.bind(a, '127.0.0.1', 5000);
  throwsErrno(() => sim.bind(udp(sim), '127.0.0.1', 5000), 'EADDRINUSE');
  throwsErrno(() => sim.bind(udp(sim), '0.0.0.0', 5000), 'EADDRINUSE');
  sim.bind(udp(sim), '127.0.0.2', 5000); // different specific address
  const b = reuseport(sim, udp(sim));
  const c = reuseport(sim, udp(sim));
  sim.bind(b, '127.0.0.1', 6000);
  sim.bind(c, '127.0.0.1', 6000);
  sim.uid = 1000;
  throwsErrno(() => sim.bind(reuseport(sim, udp(sim)), '127.0.0.1', 6000), 'EADDRINUSE', /uid/);
  sim.uid = 0;
  throwsErrno(() => sim.bind(a, '127.0.0.1', 5001), 'EINVAL');
  throwsErrno(() => sim.bind(udp(sim), '10.0.0.1', 5000), 'EADDRNOTAVAIL');
  throwsErrno(() => new SimKernel({ capabilities: [] }).bind(0 + 3, '127.0.0.1', 80), 'EBADF');
  const nc = new SimKernel({ capabilities: ['CAP_BPF'] });
  throwsErrno(() => nc.bind(udp(nc), '127.0.0.1', 80), 'EACCES');
});

test('SO_REUSEADDR lets TCP sockets share a port until one listens', () => {
  const sim = new SimKernel();
  const a = tcp(sim), b = tcp(sim);
  sim.setsockopt(a, SOL_SOCKET, SO_REUSEADDR, 1);
  sim.setsockopt(b, SOL_SOCKET, SO_REUSEADDR, 1);
  sim.bind(a, '127.0.0.1', 7000);
  sim.bind(b, '127.0.0.1', 7000);
  sim.listen(a, 1);
  throwsErrno(() => sim.listen(b, 1), 'EADDRINUSE');
});

test('dual stack: [::] takes IPv4 unless IPV6_V6ONLY; v4-mapped addresses', () => {
  const sim = new SimKernel();
  const s6 = udp(sim, AF_INET6);
  sim.bind(s6, '::', 7100);
  throwsErrno(() => sim.bind(udp(sim), '127.0.0.1', 7100), 'EADDRINUSE');
  const c = udp(sim);
  sim.sendto(c, new Uint8Array([1]), '127.0.0.1', 7100);
  const d = sim.recvfrom(s6);
  assert.equal(d.address, '::ffff:127.0.0.1');
  const only = udp(sim, AF_INET6);
  sim.setsockopt(only, SOL_IPV6, IPV6_V6ONLY, 1);
  sim.bind(only, '::', 7101);
  sim.bind(udp(sim), '127.0.0.1', 7101); // no overlap with a v6-only wildcard
  throwsErrno(() => sim.setsockopt(only, SOL_IPV6, IPV6_V6ONLY, 0), 'EINVAL');
  throwsErrno(() => sim.setsockopt(c, SOL_IPV6, IPV6_V6ONLY, 0), 'ENOPROTOOPT');
  assert.equal(readU32(sim.getsockopt(udp(sim, AF_INET6), SOL_IPV6, IPV6_V6ONLY)), 0);
  const m = udp(sim, AF_INET6);
  sim.bind(m, '::ffff:127.0.0.1', 0);
  assert.equal(sim.getsockname(m).address, '::ffff:127.0.0.1');
});

test('ephemeral ports: bind(0) and autobind stay in 32768..60999', () => {
  const sim = new SimKernel({ seed: 3 });
  for (let i = 0; i < 20; i++) {
    const fd = udp(sim);
    sim.bind(fd, '127.0.0.1', 0);
    const p = sim.getsockname(fd).port;
    assert.ok(p >= 32768 && p <= 60999, `port ${p}`);
  }
  assert.equal(new SimKernel({ seed: 3 }).sysctl('net.ipv4.ip_local_port_range'), '32768\t60999');
});

test('same seed, same ports and cookies; different seed, different ones', () => {
  const run = (seed: number): string => {
    const sim = new SimKernel({ seed });
    const fd = udp(sim);
    sim.bind(fd, '127.0.0.1', 0);
    return `${sim.getsockname(fd).port}/${readU64(sim.getsockopt(fd, SOL_SOCKET, SO_COOKIE))}`;
  };
  assert.equal(run(5), run(5));
  assert.notEqual(run(5), run(6));
});

test('SO_COOKIE: lazy, unique, stable', () => {
  const sim = new SimKernel();
  const a = udp(sim), b = udp(sim);
  const ca = readU64(sim.getsockopt(a, SOL_SOCKET, SO_COOKIE));
  assert.equal(readU64(sim.getsockopt(a, SOL_SOCKET, SO_COOKIE)), ca);
  assert.notEqual(readU64(sim.getsockopt(b, SOL_SOCKET, SO_COOKIE)), ca);
});

test('TCP: connect completes the handshake, accept returns the child, data flows both ways', () => {
  const sim = new SimKernel();
  const l = tcp(sim, AF_INET6);
  sim.bind(l, '::1', 0);
  sim.listen(l, 4);
  throwsErrno(() => sim.accept(l), 'EAGAIN');
  const c = tcp(sim, AF_INET6);
  sim.connect(c, '::1', sim.getsockname(l).port);
  assert.deepEqual(sim.poll([l, c]).filter((p) => p.revents & POLLIN).map((p) => p.fd), [l]);
  const s = sim.accept(l);
  assert.deepEqual(sim.getpeername(s), sim.getsockname(c));
  sim.sendto(c, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...sim.recvfrom(s).data], [1, 2, 3]);
  sim.sendto(s, new Uint8Array([4]));
  assert.deepEqual([...sim.recvfrom(c).data], [4]);
  throwsErrno(() => sim.recvfrom(c), 'EAGAIN');
  sim.shutdown(s, SHUT_WR);
  assert.equal(sim.recvfrom(c).data.length, 0, 'EOF after the peer shut down writing');
  throwsErrno(() => sim.connect(c, '::1', 1), 'EISCONN');
});

test('TCP: nobody listening -> ECONNREFUSED; full accept queue -> the SYN is dropped', () => {
  const sim = new SimKernel();
  throwsErrno(() => sim.connect(tcp(sim), '127.0.0.1', 9), 'ECONNREFUSED');
  const l = tcp(sim);
  sim.bind(l, '127.0.0.1', 0);
  sim.listen(l, 1);
  const port = sim.getsockname(l).port;
  sim.connect(tcp(sim), '127.0.0.1', port);
  sim.connect(tcp(sim), '127.0.0.1', port); // backlog 1 holds 2 (ack_backlog > max_ack_backlog)
  throwsErrno(() => sim.connect(tcp(sim), '127.0.0.1', port), 'ETIMEDOUT');
  throwsErrno(() => sim.listen(udp(sim), 1), 'EOPNOTSUPP');
  throwsErrno(() => sim.accept(udp(sim)), 'EOPNOTSUPP');
  throwsErrno(() => sim.connect(l, '127.0.0.1', 9), 'EISCONN');
  throwsErrno(() => sim.connect(tcp(sim), '192.0.2.1', 80), 'ENETUNREACH');
});

test('a refused client keeps its port in getsockname(), reads ENOTCONN (disconnected, not EOF), and writes EPIPE', () => {
  const sim = new SimKernel();
  const c = tcp(sim);
  sim.bind(c, '127.0.0.1', 0);
  const port = sim.getsockname(c).port;
  throwsErrno(() => sim.connect(c, '127.0.0.1', 9), 'ECONNREFUSED');
  assert.equal(sim.getsockname(c).port, port);
  // the blocking connect() disconnected the socket (tcp_disconnect clears SOCK_DONE): Linux 6.18 says ENOTCONN
  throwsErrno(() => sim.recvfrom(c), 'ENOTCONN');
  throwsErrno(() => sim.sendto(c, new Uint8Array(1)), 'EPIPE');
  throwsErrno(() => sim.sendto(tcp(sim), new Uint8Array(1)), 'EPIPE');
});

test('TCP close of a listener resets the children still in its accept queue', () => {
  const sim = new SimKernel();
  const l = tcp(sim);
  sim.bind(l, '127.0.0.1', 0);
  sim.listen(l, 8);
  const c = tcp(sim);
  sim.connect(c, '127.0.0.1', sim.getsockname(l).port);
  sim.close(l);
  throwsErrno(() => sim.recvfrom(c), 'ECONNRESET');
});

test('UDP: default rcvbuf holds 256 small datagrams (truesize accounting), SO_RCVBUF doubles', () => {
  const sim = new SimKernel();
  const r = udp(sim);
  sim.bind(r, '127.0.0.1', 0);
  const port = sim.getsockname(r).port;
  const s = udp(sim);
  for (let i = 0; i < 1000; i++) sim.sendto(s, new Uint8Array(8), '127.0.0.1', port);
  let n = 0;
  for (;;) { try { sim.recvfrom(r); n++; } catch { break; } }
  assert.equal(n, 256);
  assert.equal(sim.netstat.udpRcvbufErrors, 744);
  // larger datagrams cost more truesize: 92 of 1000 bytes fit (measured on 6.18)
  for (let i = 0; i < 200; i++) sim.sendto(s, new Uint8Array(1000), '127.0.0.1', port);
  n = 0;
  for (;;) { try { sim.recvfrom(r); n++; } catch { break; } }
  assert.equal(n, 92);
  sim.setsockopt(r, SOL_SOCKET, SO_RCVBUF, 4096);
  assert.equal(readU32(sim.getsockopt(r, SOL_SOCKET, SO_RCVBUF)), 8192);
});

test('UDP: ICMP port unreachable reaches a connected sender only (ECONNREFUSED, SO_ERROR)', () => {
  const sim = new SimKernel();
  const un = udp(sim);
  sim.sendto(un, new Uint8Array(1), '127.0.0.1', 9);
  throwsErrno(() => sim.recvfrom(un), 'EAGAIN');
  const co = udp(sim);
  sim.connect(co, '127.0.0.1', 9);
  sim.sendto(co, new Uint8Array(1));
  assert.equal(sim.poll([co])[0]!.revents & POLLERR, POLLERR);
  throwsErrno(() => sim.recvfrom(co), 'ECONNREFUSED');
  sim.sendto(co, new Uint8Array(1));
  assert.equal(readU32(sim.getsockopt(co, SOL_SOCKET, SO_ERROR)), 111);
  assert.equal(readU32(sim.getsockopt(co, SOL_SOCKET, SO_ERROR)), 0);
  throwsErrno(() => sim.shutdown(udp(sim), 0), 'ENOTCONN');
  throwsErrno(() => sim.sendto(udp(sim), new Uint8Array(1)), 'EDESTADDRREQ');
});

test('a connected UDP socket is preferred for its 4-tuple and leaves the reuseport group (6.13+)', () => {
  const sim = new SimKernel();
  const g = group(sim, 3);
  const peer = udp(sim);
  sim.bind(peer, '127.0.0.1', 0);
  sim.connect(g.fds[1]!, '127.0.0.1', sim.getsockname(peer).port);
  assert.equal(sim.socketOf(g.fds[1]!).reuseCb, null);
  assert.equal(sim.socketOf(g.fds[0]!).reuseCb!.socks.length, 2);
  sim.sendto(peer, new Uint8Array([9]), '127.0.0.1', g.port);
  assert.deepEqual(sim.poll(g.fds).filter((p) => p.revents & POLLIN).map((p) => p.fd), [g.fds[1]]);
});
