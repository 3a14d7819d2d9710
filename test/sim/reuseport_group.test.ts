/** sock_reuseport: membership, order, swap-remove, one program per group, attach/detach errnos, hash pick. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AF_INET, AF_INET6, AF_UNIX, BPF_MAP_TYPE_ARRAY, POLLIN, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF,
  SO_ATTACH_REUSEPORT_EBPF, SO_DETACH_REUSEPORT_BPF, SO_INCOMING_CPU, SO_LOCK_FILTER, SO_REUSEPORT,
} from '../../src/kernel/index.js';
import { encodeClassic } from '../../src/sim/index.js';
import { SimKernel, be32, group, loadAsm, throwsErrno } from './helpers.js';

/** cBPF: A = payload[0..4] (network order); A %= mod; return A. */
const modProg = (mod: number): Uint8Array => encodeClassic([
  { code: 0x20, jt: 0, jf: 0, k: 0 }, { code: 0x94, jt: 0, jf: 0, k: mod }, { code: 0x16, jt: 0, jf: 0, k: 0 },
]);

function receiver(sim: SimKernel, fds: number[]): number {
  const ready = sim.poll(fds).filter((p) => p.revents & POLLIN);
  assert.equal(ready.length, 1, `exactly one socket should be readable, got ${ready.length}`);
  const fd = ready[0]!.fd;
  sim.recvfrom(fd);
  return fds.indexOf(fd);
}

test('classic BPF index k delivers to the k-th socket in bind order; re-attach replaces for the group', () => {
  const sim = new SimKernel();
  const g = group(sim, 6);
  sim.setsockopt(g.fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, modProg(6));
  const c = sim.socket(AF_INET, SOCK_DGRAM);
  for (let i = 0; i < 12; i++) {
    sim.sendto(c, be32(i), '127.0.0.1', g.port);
    assert.equal(receiver(sim, g.fds), i % 6);
  }
  sim.setsockopt(g.fds[4]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, modProg(3));
  for (let i = 0; i < 6; i++) {
    sim.sendto(c, be32(i), '127.0.0.1', g.port);
    assert.equal(receiver(sim, g.fds), i % 3);
  }
});

test('leaving the group moves the last socket into the hole (swap-remove)', () => {
  const sim = new SimKernel();
  const g = group(sim, 4);
  sim.setsockopt(g.fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, modProg(4));
  sim.close(g.fds[1]!);
  const c = sim.socket(AF_INET, SOCK_DGRAM);
  sim.sendto(c, be32(1), '127.0.0.1', g.port);
  assert.equal(receiver(sim, g.fds.filter((_, i) => i !== 1)), 2, 'index 1 is now the former last socket (fds[3])');
});

test('an out-of-range classic index falls back to the hash', () => {
  const sim = new SimKernel();
  const g = group(sim, 2);
  sim.setsockopt(g.fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, modProg(1000));
  const c = sim.socket(AF_INET, SOCK_DGRAM);
  sim.sendto(c, be32(999), '127.0.0.1', g.port);
  receiver(sim, g.fds);
});

test('test_extra_filter: two sockets with their own program before bind -> EADDRINUSE', () => {
  const sim = new SimKernel();
  const a = sim.socket(AF_INET, SOCK_DGRAM), b = sim.socket(AF_INET, SOCK_DGRAM);
  for (const fd of [a, b]) {
    sim.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    sim.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, modProg(2));
  }
  sim.bind(a, '127.0.0.1', 0);
  throwsErrno(() => sim.bind(b, '127.0.0.1', sim.getsockname(a).port), 'EADDRINUSE');
});

test('attach errnos: no SO_REUSEPORT, bad fds, wrong program type, optlen, SO_LOCK_FILTER, AF_UNIX', () => {
  const sim = new SimKernel();
  const prog = loadAsm(sim, 'mov %r0, 1\nexit');
  const plain = sim.socket(AF_INET, SOCK_DGRAM);
  sim.bind(plain, '127.0.0.1', 0);
  throwsErrno(() => sim.setsockopt(plain, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog), 'EINVAL', /without SO_REUSEPORT/);
  throwsErrno(() => sim.setsockopt(plain, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, modProg(2)), 'EINVAL');
  const unbound = sim.socket(AF_INET, SOCK_DGRAM);
  throwsErrno(() => sim.setsockopt(unbound, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog), 'EINVAL', /SO_REUSEPORT is not set/);
  sim.setsockopt(unbound, SOL_SOCKET, SO_REUSEPORT, 1);
  sim.setsockopt(unbound, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog); // test_filter_without_bind
  throwsErrno(() => sim.setsockopt(unbound, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, 999), 'EBADF');
  const map = sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
  throwsErrno(() => sim.setsockopt(unbound, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, map), 'EINVAL');
  throwsErrno(() => sim.setsockopt(unbound, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, new Uint8Array(8)), 'EINVAL', /optlen/);
  throwsErrno(() => sim.setsockopt(unbound, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, 5), 'EINVAL');
  throwsErrno(() => sim.setsockopt(unbound, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, encodeClassic([{ code: 0x94, jt: 0, jf: 0, k: 0 }, { code: 0x16, jt: 0, jf: 0, k: 0 }])), 'EINVAL');
  sim.setsockopt(unbound, SOL_SOCKET, SO_LOCK_FILTER, 1);
  throwsErrno(() => sim.setsockopt(unbound, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog), 'EPERM');
  const unix = sim.socket(AF_UNIX, SOCK_DGRAM);
  throwsErrno(() => sim.setsockopt(unix, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog), 'ENOTSUPP');
});

test('detach: 0 then ENOENT through another member; EINVAL without SO_REUSEPORT', () => {
  const sim = new SimKernel();
  const g = group(sim, 2, { tcp: true, v6: true });
  const prog = loadAsm(sim, 'mov %r0, 1\nexit');
  throwsErrno(() => sim.setsockopt(g.fds[0]!, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0), 'ENOENT');
  sim.setsockopt(g.fds[1]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog);
  sim.setsockopt(g.fds[0]!, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0);
  throwsErrno(() => sim.setsockopt(g.fds[1]!, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0), 'ENOENT');
  const plain = sim.socket(AF_INET6, SOCK_STREAM);
  throwsErrno(() => sim.setsockopt(plain, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0), 'EINVAL');
  sim.setsockopt(plain, SOL_SOCKET, SO_REUSEPORT, 1);
  throwsErrno(() => sim.setsockopt(plain, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0), 'ENOENT');
  throwsErrno(() => sim.setsockopt(plain, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, new Uint8Array(2)), 'EINVAL');
});

test('groups split by address, family, v6only and uid; wildcard and specific are different groups', () => {
  const sim = new SimKernel();
  const any = group(sim, 2, { addr: '0.0.0.0' });
  const lo = group(sim, 1, { addr: '127.0.0.1', port: any.port });
  const ga = sim.socketOf(any.fds[0]!).reuseCb!, gl = sim.socketOf(lo.fds[0]!).reuseCb!;
  assert.notEqual(ga, gl);
  assert.equal(ga.bindInany, true);
  assert.equal(gl.bindInany, false);
  assert.notEqual(ga.reuseportId, gl.reuseportId);
  // the exact address wins the lookup
  const c = sim.socket(AF_INET, SOCK_DGRAM);
  sim.sendto(c, be32(1), '127.0.0.1', any.port);
  assert.equal(sim.poll(lo.fds).filter((p) => p.revents & POLLIN).length, 1);
});

test('hash selection: spread over members; SO_INCOMING_CPU members preferred on their CPU', () => {
  const sim = new SimKernel({ cpus: 4 });
  const g = group(sim, 4);
  const c = sim.socket(AF_INET, SOCK_DGRAM);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 400; i++) {
    const s = sim.socket(AF_INET, SOCK_DGRAM);
    sim.sendto(s, be32(i), '127.0.0.1', g.port);
    sim.close(s);
    counts[receiver(sim, g.fds)]!++;
  }
  assert.ok(counts.every((n) => n > 50), `hash spreads: ${counts}`);
  g.fds.forEach((fd, i) => sim.setsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, i));
  for (let cpu = 0; cpu < 4; cpu++) {
    sim.setCpu(cpu);
    for (let i = 0; i < 10; i++) {
      const s = sim.socket(AF_INET, SOCK_DGRAM);
      sim.sendto(s, be32(i), '127.0.0.1', g.port);
      sim.close(s);
      assert.equal(receiver(sim, g.fds), cpu);
    }
  }
  void c;
});

test('capacity: the group grows past INIT_SOCKS (128) by doubling; reuseport ids differ per group', () => {
  const sim = new SimKernel();
  const g = group(sim, 130);
  const reuse = sim.socketOf(g.fds[0]!).reuseCb!;
  assert.equal(reuse.socks.length, 130);
  assert.equal(reuse.maxSocks, 256);
  assert.equal(sim.socketOf(g.fds[129]!).reuseIdx, 129);
  const other = group(sim, 1);
  assert.notEqual(sim.socketOf(other.fds[0]!).reuseCb!.reuseportId, reuse.reuseportId);
});

test('SOCKET_FILTER programs larger than net.core.optmem_max: ENOMEM; SK_REUSEPORT has no limit', () => {
  const sim = new SimKernel();
  const g = group(sim, 1);
  sim.sysctl('net.core.optmem_max', '32');
  const sf = sim.progLoad({ progType: 1, insns: Uint8Array.from([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]) });
  throwsErrno(() => sim.setsockopt(g.fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, sf), 'ENOMEM');
  sim.setsockopt(g.fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, loadAsm(sim, 'mov %r0, 1\nexit'));
});
