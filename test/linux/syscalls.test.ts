/**
 * Every socket wrapper of LinuxKernel against the real kernel, with the errno each failure
 * must carry, and argument validation (typed errors before any syscall).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, closeSync } from 'node:fs';
import * as C from '../../src/kernel/constants.js';
import { ERRNO, SysError } from '../../src/kernel/errno.js';
import { requireKernel } from '../support/netns.js';

const errno = (code: keyof typeof ERRNO) => (e: unknown) => e instanceof SysError && e.errno === ERRNO[code];
const int = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength).getInt32(0, true);

test('socket/bind/listen/getsockname/connect/accept/sendto/recvfrom/shutdown/close over TCP (IPv4)', (t) => {
  const k = requireKernel(t); if (!k) return;
  const srv = k.socket(C.AF_INET, C.SOCK_STREAM);
  k.bind(srv, '127.0.0.1', 0);
  k.listen(srv, 8);
  const { address, port } = k.getsockname(srv);
  assert.equal(address, '127.0.0.1');
  assert.ok(port > 0);
  assert.throws(() => k.accept(srv), errno('EAGAIN'), 'accept is non-blocking');
  const cli = k.socket(C.AF_INET, C.SOCK_STREAM);
  k.connect(cli, '127.0.0.1', port);
  const child = k.accept(srv);
  assert.deepEqual(k.getpeername(child), k.getsockname(cli));
  assert.deepEqual(k.getpeername(cli), { address: '127.0.0.1', port });
  assert.equal(k.sendto(cli, new Uint8Array([1, 2, 3])), 3);
  assert.deepEqual(k.poll([child], 1000), [{ fd: child, revents: C.POLLIN }]);
  const d = k.recvfrom(child);
  assert.deepEqual([...d.data], [1, 2, 3]);
  assert.deepEqual({ address: d.address, port: d.port }, k.getsockname(cli), 'TCP recvfrom reports the peer');
  assert.throws(() => k.recvfrom(child), errno('EAGAIN'), 'recvfrom is non-blocking');
  k.shutdown(cli, C.SHUT_WR);
  assert.equal(k.recvfrom(child).data.length, 0, 'EOF after the peer shut down writing');
  for (const fd of [child, cli, srv]) k.close(fd);
  assert.throws(() => k.close(srv), errno('EBADF'));
});

test('IPv6 sockets: dual-stack peers read back as ::ffff:a.b.c.d', (t) => {
  const k = requireKernel(t); if (!k) return;
  const srv = k.socket(C.AF_INET6, C.SOCK_STREAM);
  k.setsockopt(srv, C.SOL_IPV6, C.IPV6_V6ONLY, 0);
  k.bind(srv, '::', 0);
  k.listen(srv);
  const { port } = k.getsockname(srv);
  assert.deepEqual(k.getsockname(srv), { address: '::', port });
  const cli = k.socket(C.AF_INET, C.SOCK_STREAM);
  k.connect(cli, '127.0.0.1', port);
  const child = k.accept(srv);
  assert.equal(k.getpeername(child).address, '::ffff:127.0.0.1');
  const c6 = k.socket(C.AF_INET6, C.SOCK_STREAM);
  k.connect(c6, '::1', port);
  assert.equal(k.getpeername(c6).address, '::1');
  for (const fd of [c6, child, cli, srv]) k.close(fd);
});

test('UDP: sendto/recvfrom carry the source address; connected UDP sets the peer', (t) => {
  const k = requireKernel(t); if (!k) return;
  const a = k.socket(C.AF_INET, C.SOCK_DGRAM);
  const b = k.socket(C.AF_INET, C.SOCK_DGRAM);
  k.bind(a, '127.0.0.1', 0);
  k.bind(b, '127.0.0.1', 0);
  const pa = k.getsockname(a).port;
  assert.equal(k.sendto(b, new Uint8Array([7, 8]), '127.0.0.1', pa), 2);
  assert.equal(k.poll([a], 1000).length, 1);
  const d = k.recvfrom(a);
  assert.deepEqual([...d.data], [7, 8]);
  assert.deepEqual({ address: d.address, port: d.port }, k.getsockname(b));
  k.connect(b, '127.0.0.1', pa);
  assert.deepEqual(k.getpeername(b), { address: '127.0.0.1', port: pa });
  k.sendto(b, new Uint8Array([9]));
  k.poll([a], 1000);
  assert.deepEqual([...k.recvfrom(a, 16).data], [9]);
  assert.deepEqual(k.poll([a], 0), [], 'poll with timeout 0 just looks');
  k.close(a); k.close(b);
});

test('connect: ECONNREFUSED from a closed port; ETIMEDOUT after a bounded wait when the SYN is dropped', (t) => {
  const k = requireKernel(t); if (!k) return;
  const probe = k.socket(C.AF_INET, C.SOCK_STREAM);
  k.bind(probe, '127.0.0.1', 0);
  const { port } = k.getsockname(probe);
  k.close(probe);
  const c = k.socket(C.AF_INET, C.SOCK_STREAM);
  assert.throws(() => k.connect(c, '127.0.0.1', port), errno('ECONNREFUSED'));
  k.close(c);
  // A listener with a full accept queue (backlog 0) drops further SYNs silently (syncookies off).
  k.sysctl('net.ipv4.tcp_syncookies', '0');
  const srv = k.socket(C.AF_INET, C.SOCK_STREAM);
  k.bind(srv, '127.0.0.1', 0);
  k.listen(srv, 0);
  const sp = k.getsockname(srv).port;
  const first = k.socket(C.AF_INET, C.SOCK_STREAM);
  k.connect(first, '127.0.0.1', sp);
  const second = k.socket(C.AF_INET, C.SOCK_STREAM);
  assert.throws(() => k.connect(second, '127.0.0.1', sp), errno('ETIMEDOUT'));
  for (const fd of [second, first, srv]) k.close(fd);
});

test('setsockopt/getsockopt: int options, SO_COOKIE (8 bytes), ENOPROTOOPT, ENOTSOCK, EBADF', (t) => {
  const k = requireKernel(t); if (!k) return;
  const s = k.socket(C.AF_INET, C.SOCK_DGRAM);
  assert.equal(int(k.getsockopt(s, C.SOL_SOCKET, C.SO_REUSEPORT)), 0);
  k.setsockopt(s, C.SOL_SOCKET, C.SO_REUSEPORT, 1);
  assert.equal(int(k.getsockopt(s, C.SOL_SOCKET, C.SO_REUSEPORT)), 1);
  assert.equal(int(k.getsockopt(s, C.SOL_SOCKET, C.SO_TYPE)), C.SOCK_DGRAM);
  assert.equal(int(k.getsockopt(s, C.SOL_SOCKET, C.SO_DOMAIN)), C.AF_INET);
  assert.equal(int(k.getsockopt(s, C.SOL_SOCKET, C.SO_PROTOCOL)), C.IPPROTO_UDP);
  const cookie = k.getsockopt(s, C.SOL_SOCKET, C.SO_COOKIE, 8);
  assert.equal(cookie.length, 8);
  assert.notEqual(new DataView(cookie.buffer, cookie.byteOffset).getBigUint64(0, true), 0n);
  k.setsockopt(s, C.SOL_SOCKET, C.SO_RCVBUF, new Uint8Array([0, 0, 1, 0]));
  assert.throws(() => k.setsockopt(s, C.SOL_SOCKET, 9999, 1), errno('ENOPROTOOPT'));
  assert.throws(() => k.getsockopt(s, C.SOL_SOCKET, 9999), errno('ENOPROTOOPT'));
  const file = openSync('/proc/self/stat', 'r');
  assert.throws(() => k.setsockopt(file, C.SOL_SOCKET, C.SO_REUSEPORT, 1), errno('ENOTSOCK'));
  assert.throws(() => k.bind(file, '127.0.0.1', 0), errno('ENOTSOCK'));
  closeSync(file);
  k.close(s);
  assert.throws(() => k.setsockopt(s, C.SOL_SOCKET, C.SO_REUSEPORT, 1), errno('EBADF'));
  assert.throws(() => k.getsockname(s), errno('EBADF'));
  assert.throws(() => k.listen(-1), errno('EBADF'));
});

test('errno mapping of socket-layer failures', (t) => {
  const k = requireKernel(t); if (!k) return;
  assert.throws(() => k.socket(12345, C.SOCK_STREAM), errno('EAFNOSUPPORT'));
  assert.throws(() => k.socket(C.AF_INET, C.SOCK_STREAM, C.IPPROTO_UDP), errno('EPROTONOSUPPORT'));
  const a = k.socket(C.AF_INET, C.SOCK_STREAM);
  k.bind(a, '127.0.0.1', 0);
  const { port } = k.getsockname(a);
  k.listen(a);
  const b = k.socket(C.AF_INET, C.SOCK_STREAM);
  assert.throws(() => k.bind(b, '127.0.0.1', port), errno('EADDRINUSE'));
  assert.throws(() => k.bind(b, '192.0.2.1', 0), errno('EADDRNOTAVAIL'));
  assert.throws(() => k.getpeername(b), errno('ENOTCONN'));
  assert.throws(() => k.shutdown(b, C.SHUT_RDWR), errno('ENOTCONN'));
  assert.throws(() => k.accept(b), errno('EINVAL'), 'accept on a socket that is not listening');
  const u = k.socket(C.AF_INET, C.SOCK_DGRAM);
  assert.throws(() => k.listen(u), errno('EOPNOTSUPP'));
  assert.throws(() => k.sendto(u, new Uint8Array(1)), errno('EDESTADDRREQ'));
  const unix = k.socket(C.AF_UNIX, C.SOCK_STREAM);
  assert.throws(() => k.setsockopt(unix, C.SOL_SOCKET, C.SO_REUSEPORT, 1), errno('EOPNOTSUPP'));
  for (const fd of [unix, u, b, a]) k.close(fd);
});

test('argument validation: typed errors name the bad argument, no syscall is made', (t) => {
  const k = requireKernel(t); if (!k) return;
  const s = k.socket(C.AF_INET, C.SOCK_DGRAM);
  assert.throws(() => k.bind(s, '127.0.0.1', NaN), RangeError);
  assert.throws(() => k.bind(s, '127.0.0.1', 65536), /port/);
  assert.throws(() => k.bind(s, '127.0.0.1', -1), RangeError);
  assert.throws(() => k.bind(s, '127.0.0.1', '80' as unknown as number), TypeError);
  assert.throws(() => k.bind(s, 42 as unknown as string, 0), TypeError);
  assert.throws(() => k.bind(s, '127.0.0.256', 0), /invalid IPv4 address/);
  assert.throws(() => k.bind(s, '::1', 0), /IPv6 address "::1" given to an AF_INET socket/);
  assert.throws(() => k.close(1.5), RangeError);
  assert.throws(() => k.socket('inet' as unknown as number, 1), TypeError);
  assert.throws(() => k.sendto(s, 'x' as unknown as Uint8Array, '127.0.0.1', 1), TypeError);
  assert.throws(() => k.poll('3' as unknown as number[]), TypeError);
  assert.throws(() => k.mapCreate(null as never), TypeError);
  assert.throws(() => k.mapCreate({ mapType: 20, keySize: -4, valueSize: 8, maxEntries: 1 }), /keySize/);
  assert.throws(() => k.progLoad({ progType: 21, insns: new Uint8Array(7) }), /multiple of 8/);
  assert.throws(() => k.sysctl('../../etc/passwd'), TypeError);
  k.close(s);
});

test('TCP Fast Open: sendto(MSG_FASTOPEN) connects and carries the data', (t) => {
  const k = requireKernel(t); if (!k) return;
  k.sysctl('net.ipv4.tcp_fastopen', '7'); // client + server + no cookie needed: data rides in the SYN
  const srv = k.socket(C.AF_INET, C.SOCK_STREAM);
  k.setsockopt(srv, C.SOL_TCP, C.TCP_FASTOPEN, 16);
  k.bind(srv, '127.0.0.1', 0);
  k.listen(srv);
  const { port } = k.getsockname(srv);
  const cli = k.socket(C.AF_INET, C.SOCK_STREAM);
  assert.equal(k.sendto(cli, new TextEncoder().encode('hello'), '127.0.0.1', port, C.MSG_FASTOPEN), 5);
  assert.equal(k.poll([srv], 1000).length, 1);
  const child = k.accept(srv);
  k.poll([child], 1000);
  assert.equal(new TextDecoder().decode(k.recvfrom(child).data), 'hello');
  for (const fd of [child, cli, srv]) k.close(fd);
});

test('sysctl reads, writes net.* inside the private namespace, and maps errnos', (t) => {
  const k = requireKernel(t); if (!k) return;
  assert.equal(k.sysctl('net.ipv4.tcp_migrate_req', '1'), '1');
  assert.equal(k.sysctl('net.ipv4.tcp_migrate_req'), '1');
  assert.throws(() => k.sysctl('net.ipv4.tcp_migrate_req', '7'), errno('EINVAL'));
  assert.throws(() => k.sysctl('net.ipv4.no_such_knob'), errno('ENOENT'));
});
