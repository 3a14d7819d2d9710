/**
 * End to end on the real kernel: an SK_REUSEPORT program selecting a sockarray slot steers
 * every TCP connection and every UDP datagram to the chosen socket; attach/detach are
 * group-scoped; BPF stats prove the program ran exactly once per connection / datagram.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as C from '../../src/kernel/constants.js';
import { ERRNO, SysError } from '../../src/kernel/errno.js';
import type { LinuxKernel } from '../../src/linux/index.js';
import {
  BpfProgram, ReuseportSockArray, attachReuseportProgram, detachReuseportProgram, programStats, selectSlotProgram, withStats,
} from '../../src/bpf/index.js';
import { requireKernel } from '../support/netns.js';

const errno = (code: keyof typeof ERRNO) => (e: unknown) => e instanceof SysError && e.errno === ERRNO[code];

function group(k: LinuxKernel, type: number, n: number, host = '127.0.0.1'): { fds: number[]; port: number } {
  const fds: number[] = [];
  let port = 0;
  for (let i = 0; i < n; i++) {
    const fd = k.socket(host.includes(':') ? C.AF_INET6 : C.AF_INET, type);
    k.setsockopt(fd, C.SOL_SOCKET, C.SO_REUSEPORT, 1);
    k.bind(fd, host, port);
    port = k.getsockname(fd).port;
    if (type === C.SOCK_STREAM) k.listen(fd, 64);
    fds.push(fd);
  }
  return { fds, port };
}

/** Which listeners have a pending connection: accept them all, return the count per listener. */
function acceptAll(k: LinuxKernel, fds: number[]): number[] {
  return fds.map((fd) => {
    let n = 0;
    for (;;) {
      try { k.close(k.accept(fd)); n++; } catch (e) { assert.ok(errno('EAGAIN')(e)); return n; }
    }
  });
}

function recvAll(k: LinuxKernel, fds: number[]): number[] {
  return fds.map((fd) => {
    let n = 0;
    for (;;) {
      try { k.recvfrom(fd); n++; } catch (e) { assert.ok(errno('EAGAIN')(e)); return n; }
    }
  });
}

for (const host of ['127.0.0.1', '::1']) {
  test(`TCP ${host}: every connection goes to the socket in slot 0, exactly one program run per connection`, (t) => {
    const k = requireKernel(t); if (!k) return;
    const { fds, port } = group(k, C.SOCK_STREAM, 4, host);
    const sa = ReuseportSockArray.create(k, { maxEntries: 4 });
    const prog = BpfProgram.load(k, { insns: selectSlotProgram(sa.fd, 0), name: 'select_slot0' });
    attachReuseportProgram(k, fds[1]!, prog); // any member: the program belongs to the group
    withStats(k, () => {
      for (const target of [2, 0, 3]) {
        sa.set(0, fds[target]!);
        const before = programStats(prog).runCnt;
        const clients: number[] = [];
        for (let i = 0; i < 20; i++) {
          const c = k.socket(host.includes(':') ? C.AF_INET6 : C.AF_INET, C.SOCK_STREAM);
          k.connect(c, host, port);
          clients.push(c);
        }
        const expected = fds.map((_, i) => (i === target ? 20 : 0));
        assert.deepEqual(acceptAll(k, fds), expected, `all 20 connections on listener ${target}`);
        assert.equal(programStats(prog).runCnt - before, 20n);
        clients.forEach((c) => k.close(c));
      }
    });
    const stats = programStats(prog);
    assert.ok(stats.runTimeNs > 0n && stats.avgNs > 0);
    prog.close(); sa.close(); fds.forEach((fd) => k.close(fd));
  });
}

test('UDP over IPv6, and IPv4 clients of a dual-stack [::] group: steered to slot 0', (t) => {
  const k = requireKernel(t); if (!k) return;
  for (const [host, client, family] of [['::1', '::1', C.AF_INET6], ['::', '127.0.0.1', C.AF_INET]] as const) {
    const { fds, port } = group(k, C.SOCK_DGRAM, 3, host);
    const sa = ReuseportSockArray.create(k, { maxEntries: 1 });
    const prog = BpfProgram.load(k, { insns: selectSlotProgram(sa.fd, 0) });
    attachReuseportProgram(k, fds[2]!, prog);
    sa.set(0, fds[1]!);
    const senders = Array.from({ length: 8 }, () => k.socket(family, C.SOCK_DGRAM));
    senders.forEach((s) => k.sendto(s, new Uint8Array([1]), client, port));
    k.poll([fds[1]!], 1000);
    assert.deepEqual(recvAll(k, fds), [0, 8, 0], `${client} -> [${host}]:${port}`);
    senders.forEach((s) => k.close(s)); fds.forEach((fd) => k.close(fd)); prog.close(); sa.close();
  }
});

test('UDP: every datagram goes to the socket in slot 0; closing prog and map fds does not stop steering', (t) => {
  const k = requireKernel(t); if (!k) return;
  const { fds, port } = group(k, C.SOCK_DGRAM, 4);
  const sa = ReuseportSockArray.create(k, { maxEntries: 1 });
  const prog = BpfProgram.load(k, { insns: selectSlotProgram(sa.fd, 0) });
  attachReuseportProgram(k, fds[0]!, prog);
  sa.set(0, fds[3]!);
  prog.close(); sa.close(); // the group holds the program, the program holds the map
  const senders = Array.from({ length: 16 }, () => k.socket(C.AF_INET, C.SOCK_DGRAM));
  senders.forEach((s, i) => k.sendto(s, new Uint8Array([i]), '127.0.0.1', port));
  k.poll([fds[3]!], 1000);
  assert.deepEqual(recvAll(k, fds), [0, 0, 0, 16]);
  senders.forEach((s) => k.close(s)); fds.forEach((fd) => k.close(fd));
});

test('detach through another member; a second detach is ENOENT; then the hash chooses again without the program', (t) => {
  const k = requireKernel(t); if (!k) return;
  const { fds, port } = group(k, C.SOCK_DGRAM, 2);
  const sa = ReuseportSockArray.create(k, { maxEntries: 1 });
  const prog = BpfProgram.load(k, { insns: selectSlotProgram(sa.fd, 0) });
  assert.throws(() => detachReuseportProgram(k, fds[0]!), errno('ENOENT'), 'no program yet');
  attachReuseportProgram(k, fds[0]!, prog);
  sa.set(0, fds[1]!);
  withStats(k, () => {
    const s = k.socket(C.AF_INET, C.SOCK_DGRAM);
    k.sendto(s, new Uint8Array([1]), '127.0.0.1', port);
    assert.equal(programStats(prog).runCnt, 1n);
    detachReuseportProgram(k, fds[1]!);
    assert.throws(() => detachReuseportProgram(k, fds[0]!), errno('ENOENT'));
    for (let i = 0; i < 8; i++) k.sendto(s, new Uint8Array([i]), '127.0.0.1', port);
    k.poll(fds, 1000);
    assert.equal(recvAll(k, fds).reduce((a, b) => a + b, 0), 9, 'every datagram delivered');
    assert.equal(programStats(prog).runCnt, 1n, 'the detached program no longer runs');
    k.close(s);
  });
  prog.close(); sa.close(); fds.forEach((fd) => k.close(fd));
});

test('a program returning SK_DROP refuses TCP connections (ECONNREFUSED)', (t) => {
  const k = requireKernel(t); if (!k) return;
  const { fds, port } = group(k, C.SOCK_STREAM, 2);
  const sa = ReuseportSockArray.create(k, { maxEntries: 1 });
  const drop = BpfProgram.load(k, { insns: selectSlotProgram(sa.fd, 0, C.SK_DROP) });
  attachReuseportProgram(k, fds[0]!, drop);
  sa.set(0, fds[1]!);
  const c = k.socket(C.AF_INET, C.SOCK_STREAM);
  assert.throws(() => k.connect(c, '127.0.0.1', port), errno('ECONNREFUSED'));
  k.close(c); drop.close(); sa.close(); fds.forEach((fd) => k.close(fd));
});

test('attach errnos: EINVAL without SO_REUSEPORT or with a map fd, EBADF for a bad fd, ENOTSUPP on AF_UNIX; pre-bind attach on two sockets splits the group (EADDRINUSE)', (t) => {
  const k = requireKernel(t); if (!k) return;
  const sa = ReuseportSockArray.create(k, { maxEntries: 1 });
  const prog = BpfProgram.load(k, { insns: selectSlotProgram(sa.fd, 0) });
  const plain = k.socket(C.AF_INET, C.SOCK_DGRAM);
  k.bind(plain, '127.0.0.1', 0);
  assert.throws(() => attachReuseportProgram(k, plain, prog), errno('EINVAL'));
  assert.throws(() => attachReuseportProgram(k, plain, sa.fd), errno('EINVAL'), 'not a program fd');
  assert.throws(() => attachReuseportProgram(k, plain, 9999), errno('EBADF'));
  const unix = k.socket(C.AF_UNIX, C.SOCK_DGRAM);
  assert.throws(() => attachReuseportProgram(k, unix, prog), errno('ENOTSUPP'));
  const a = k.socket(C.AF_INET, C.SOCK_DGRAM), b = k.socket(C.AF_INET, C.SOCK_DGRAM);
  for (const fd of [a, b]) { k.setsockopt(fd, C.SOL_SOCKET, C.SO_REUSEPORT, 1); attachReuseportProgram(k, fd, prog); }
  k.bind(a, '127.0.0.1', 0);
  assert.throws(() => k.bind(b, '127.0.0.1', k.getsockname(a).port), errno('EADDRINUSE'));
  for (const fd of [a, b, unix, plain]) k.close(fd);
  prog.close(); sa.close();
});
