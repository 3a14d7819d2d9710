/** bpf_run_sk_reuseport: sk_reuseport_md contents, helper 82 return codes, verdicts, SOCKET_FILTER index. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/ebpf/index.js';
import {
  AF_INET, AF_INET6, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_SOCKHASH, BPF_MAP_TYPE_SOCKMAP, BPF_PROG_TYPE_SOCKET_FILTER,
  MSG_FASTOPEN, POLLIN, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, SO_REUSEPORT,
} from '../../src/kernel/index.js';
import { SELECT_BY_PAYLOAD, STORE_FP8_TO_OUT, SimKernel, be32, group, loadAsm, readU32, sockarray, throwsErrno, u32, u64 } from './helpers.js';

/** Stores every scalar ctx field into ARRAY `out` (index = field number). */
const RECORD_CTX = `
  mov %r6, %r1
  mov %r7, 0
${[16, 20, 24, 28, 32].map((off, i) => `
  ldxw %r1, [%r6+${off}]
  stxw [%r10-8], %r1${STORE_FP8_TO_OUT(i)}`).join('')}
  ldxdw %r2, [%r6+0]
  ldxdw %r3, [%r6+8]
  sub %r3, %r2
  stxw [%r10-8], %r3${STORE_FP8_TO_OUT(5)}
  mov %r0, 1
  exit
`;

function fields(sim: SimKernel, out: number): number[] {
  return [0, 1, 2, 3, 4, 5].map((i) => readU32(sim.mapLookupElem(out, u32(i))));
}

test('sk_reuseport_md for a TCP SYN: len 40 (Linux SYN options), eth_protocol in network order, hash != 0', () => {
  const sim = new SimKernel();
  const out = sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 6 });
  const g = group(sim, 2, { tcp: true, addr: '0.0.0.0' });
  const prog = loadAsm(sim, RECORD_CTX, { out });
  sim.setsockopt(g.fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog);
  const c = sim.socket(AF_INET, SOCK_STREAM);
  sim.connect(c, '127.0.0.1', g.port);
  const [len, eth, ipProto, inany, hash, direct] = fields(sim, out);
  assert.equal(len, 40);
  assert.equal(eth, 0x0008, 'htons(ETH_P_IP) read as a little-endian u32');
  assert.equal(ipProto, 6);
  assert.equal(inany, 1);
  assert.notEqual(hash, 0);
  assert.equal(direct, 40, 'data_end - data covers the whole L4 segment');
});

test('sk_reuseport_md for UDP over IPv6: len = 8 + payload, eth_protocol htons(ETH_P_IPV6), bind_inany 0', () => {
  const sim = new SimKernel();
  const out = sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 6 });
  const g = group(sim, 2, { v6: true });
  sim.setsockopt(g.fds[1]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, loadAsm(sim, RECORD_CTX, { out }));
  const c = sim.socket(AF_INET6, SOCK_DGRAM);
  sim.sendto(c, new Uint8Array(8), '::1', g.port);
  assert.deepEqual(fields(sim, out).slice(0, 4), [16, 0xdd86, 17, 0]);
});

test('TFO SYN with data: the program sees header + options + payload', () => {
  const sim = new SimKernel();
  sim.sysctl('net.ipv4.tcp_fastopen', String(1 | 2 | 4));
  const out = sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 6 });
  const g = group(sim, 1, { tcp: true });
  sim.setsockopt(g.fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, loadAsm(sim, RECORD_CTX, { out }));
  const c = sim.socket(AF_INET, SOCK_STREAM);
  sim.sendto(c, new Uint8Array(8), '127.0.0.1', g.port, MSG_FASTOPEN);
  assert.equal(fields(sim, out)[0], 48);
  const child = sim.accept(g.fds[0]!);
  assert.equal(sim.recvfrom(child).data.length, 8);
});

test('bpf_skb_load_bytes_relative(BPF_HDR_START_NET) reads the real IPv4 header', () => {
  const sim = new SimKernel();
  const out = sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 });
  const g = group(sim, 1);
  const prog = loadAsm(sim, `
    mov %r2, 12
    mov %r3, %r10
    add %r3, -8
    mov %r4, 8
    mov %r5, 1
    call 68
    stw [%r10-12], 0
    lddw %r1, map_fd out
    mov %r2, %r10
    add %r2, -12
    mov %r3, %r10
    add %r3, -8
    mov %r4, 0
    call 2
    mov %r0, 1
    exit`, { out });
  sim.setsockopt(g.fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog);
  sim.sendto(sim.socket(AF_INET, SOCK_DGRAM), new Uint8Array(1), '127.0.0.1', g.port);
  assert.deepEqual([...sim.mapLookupElem(out, u32(0))], [127, 0, 0, 1, 127, 0, 0, 1]);
  const r = sim.testRun(prog, { fd: g.fds[0]!, packet: { saddr: '127.0.0.9' } });
  assert.equal(r.helperCalls[0]!.ret, 0n);
  assert.deepEqual([...sim.mapLookupElem(out, u32(0))], [127, 0, 0, 9, 127, 0, 0, 1]);
});

test('bpf_skb_load_bytes past the end: -EFAULT and a zeroed buffer', () => {
  const sim = new SimKernel();
  const g = group(sim, 2);
  const map = sockarray(sim, 2);
  const prog = loadAsm(sim, SELECT_BY_PAYLOAD(8), { map });
  const r = sim.testRun(prog, { fd: g.fds[0]!, packet: { payload: new Uint8Array(2) } });
  assert.equal(r.helperCalls[0]!.ret, -14n);
  assert.equal(r.verdict, 0);
  assert.equal(r.selected, null);
});

test('bpf_sk_select_reuseport return codes: ENOENT, EINVAL, EPROTOTYPE, EAFNOSUPPORT, EBADFD, 0', () => {
  const sim = new SimKernel();
  const tcp4 = group(sim, 1, { tcp: true });
  const udp4 = group(sim, 1);
  const tcp6 = group(sim, 1, { tcp: true, v6: true });
  const other = group(sim, 1, { tcp: true });
  const hash = sim.mapCreate({ mapType: BPF_MAP_TYPE_SOCKHASH, keySize: 4, valueSize: 8, maxEntries: 8 });
  const c = sim.socket(AF_INET, SOCK_STREAM);
  sim.connect(c, '127.0.0.1', tcp4.port);
  const child = sim.accept(tcp4.fds[0]!);
  const entries: [number, number][] = [[1, child], [2, udp4.fds[0]!], [3, tcp6.fds[0]!], [4, other.fds[0]!], [5, tcp4.fds[0]!]];
  for (const [k, fd] of entries) sim.mapUpdateElem(hash, u32(k), u64(fd));
  const prog = loadAsm(sim, SELECT_BY_PAYLOAD(40).replace('map_fd map', 'map_fd hash').replace('mov %r0, 1\n  exit\ndrop', 'mov %r0, 1\n  exit\ndrop'), { hash });
  const expect: [number, bigint][] = [[0, -2n], [1, -22n], [2, -91n], [3, -97n], [4, -77n], [5, 0n]];
  for (const [key, ret] of expect) {
    const r = sim.testRun(prog, { fd: tcp4.fds[0]!, packet: { payload: u32(key) } });
    assert.equal(r.helperCalls[1]!.ret, ret, `key ${key}`);
    assert.equal(r.fallback, ret !== 0n);
  }
});

test('verdicts: SK_DROP and any value but SK_PASS refuse TCP (ECONNREFUSED) and drop UDP (connected sender: ECONNREFUSED)', () => {
  for (const ret of [0, 2, -1]) {
    const sim = new SimKernel();
    const t = group(sim, 2, { tcp: true });
    const u = group(sim, 2);
    const prog = loadAsm(sim, `mov %r0, ${ret}\nexit`);
    sim.setsockopt(t.fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog);
    sim.setsockopt(u.fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog);
    throwsErrno(() => sim.connect(sim.socket(AF_INET, SOCK_STREAM), '127.0.0.1', t.port), 'ECONNREFUSED');
    const s = sim.socket(AF_INET, SOCK_DGRAM);
    sim.connect(s, '127.0.0.1', u.port);
    sim.sendto(s, new Uint8Array(1));
    assert.equal(sim.poll(u.fds).filter((p) => p.revents & POLLIN).length, 0);
    throwsErrno(() => sim.recvfrom(s), 'ECONNREFUSED');
  }
});

test('SK_PASS without a selection: the kernel hash pick (fallback)', () => {
  const sim = new SimKernel();
  const g = group(sim, 3);
  const prog = loadAsm(sim, 'mov %r0, 1\nexit');
  const r = sim.testRun(prog, { fd: g.fds[0]!, packet: { hash: 0xc0000000 } });
  assert.equal(r.fallback, true);
  assert.equal(r.selected!.index, 2, 'reciprocal_scale(0xc0000000, 3) = 2');
  assert.equal(r.selected!.fd, g.fds[2]);
});

test('a socket from a different group in the sockarray is refused at selection time (EBADFD)', () => {
  const sim = new SimKernel();
  const a = group(sim, 1);
  const b = group(sim, 1);
  const map = sockarray(sim, 2);
  sim.mapUpdateElem(map, u32(0), u64(b.fds[0]!));
  const prog = loadAsm(sim, SELECT_BY_PAYLOAD(8), { map });
  const r = sim.testRun(prog, { fd: a.fds[0]!, packet: { payload: u32(0) } });
  assert.equal(r.helperCalls[1]!.ret, -77n);
});

test('SOCKMAP with a connected UDP socket outside any group: -EINVAL', () => {
  const sim = new SimKernel();
  const g = group(sim, 1);
  const map = sim.mapCreate({ mapType: BPF_MAP_TYPE_SOCKMAP, keySize: 4, valueSize: 8, maxEntries: 2 });
  const p = sim.socket(AF_INET, SOCK_DGRAM);
  sim.connect(p, '127.0.0.1', 9);
  sim.mapUpdateElem(map, u32(0), u64(p));
  const prog = loadAsm(sim, SELECT_BY_PAYLOAD(8), { map });
  assert.equal(sim.testRun(prog, { fd: g.fds[0]!, packet: { payload: u32(0) } }).helperCalls[1]!.ret, -22n);
});

test('SOCKET_FILTER eBPF: ld_abs over the L4 payload returns a socks[] index', () => {
  const sim = new SimKernel();
  const g = group(sim, 4, { tcp: true });
  const insns = assemble('mov %r6, %r1\nldabsw 0\nmod %r0, 4\nexit');
  const prog = sim.progLoad({ progType: BPF_PROG_TYPE_SOCKET_FILTER, insns });
  sim.setsockopt(g.fds[2]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog);
  sim.sysctl('net.ipv4.tcp_fastopen', '7');
  for (let i = 0; i < 8; i++) {
    const c = sim.socket(AF_INET, SOCK_STREAM);
    sim.sendto(c, be32(i), '127.0.0.1', g.port, MSG_FASTOPEN);
    const ready = sim.poll(g.fds).filter((p) => p.revents & POLLIN).map((p) => g.fds.indexOf(p.fd));
    assert.deepEqual(ready, [i % 4]);
    sim.accept(g.fds[i % 4]!);
  }
});

test('bpf_get_smp_processor_id follows the packet CPU; enableStats counts runs', () => {
  const sim = new SimKernel({ cpus: 4 });
  const g = group(sim, 4);
  const map = sockarray(sim, 4);
  g.fds.forEach((fd, i) => sim.mapUpdateElem(map, u32(i), u64(fd)));
  const prog = loadAsm(sim, `
    mov %r6, %r1
    call 8
    stxw [%r10-4], %r0
    mov %r1, %r6
    lddw %r2, map_fd map
    mov %r3, %r10
    add %r3, -4
    mov %r4, 0
    call 82
    mov %r0, 1
    exit`, { map });
  sim.setsockopt(g.fds[0]!, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog);
  const stats = sim.enableStats();
  for (let cpu = 0; cpu < 4; cpu++) {
    sim.setCpu(cpu);
    sim.sendto(sim.socket(AF_INET, SOCK_DGRAM), new Uint8Array(1), '127.0.0.1', g.port);
    assert.deepEqual(sim.poll(g.fds).filter((p) => p.revents & POLLIN).map((p) => p.fd), [g.fds[cpu]]);
    sim.recvfrom(g.fds[cpu]!);
  }
  assert.equal(sim.progGetInfo(prog).runCnt, 4n);
  sim.close(stats);
  sim.sendto(sim.socket(AF_INET, SOCK_DGRAM), new Uint8Array(1), '127.0.0.1', g.port);
  assert.equal(sim.progGetInfo(prog).runCnt, 4n, 'no counting once the stats fd is closed');
  throwsErrno(() => new SimKernel({ capabilities: ['CAP_BPF'] }).enableStats(), 'EPERM');
  void SO_REUSEPORT;
});
