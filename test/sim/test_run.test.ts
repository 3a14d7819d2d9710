/** testRun(): the unit-test tool for policies, and the emulated selector built on it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/ebpf/index.js';
import {
  AF_INET, BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_SK_REUSEPORT, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, SO_COOKIE,
} from '../../src/kernel/index.js';
import { createEmulatedSelector } from '../../src/sim/index.js';
import { SELECT_BY_PAYLOAD, SimKernel, group, loadAsm, readU64, sockarray, throwsErrno, u32, u64 } from './helpers.js';

test('testRun: selection, helper trace, insn count; maps are really used', () => {
  const sim = new SimKernel();
  const g = group(sim, 4, { tcp: true });
  const map = sockarray(sim, 4);
  g.fds.forEach((fd, i) => sim.mapUpdateElem(map, u32(i), u64(fd)));
  const prog = loadAsm(sim, SELECT_BY_PAYLOAD(40), { map });
  const r = sim.testRun(prog, { fd: g.fds[1]!, packet: { payload: u32(3) } });
  assert.equal(r.verdict, 1);
  assert.equal(r.fallback, false);
  assert.deepEqual(r.selected, { fd: g.fds[3], index: 3, cookie: readU64(sim.getsockopt(g.fds[3]!, SOL_SOCKET, SO_COOKIE)) });
  assert.equal(r.helperCalls.length, 2);
  assert.deepEqual(r.helperCalls.map((h) => [h.id, h.name, h.ret]), [[26, 'bpf_skb_load_bytes', 0n], [82, 'bpf_sk_select_reuseport', 0n]]);
  assert.equal(r.helperCalls[0]!.args[1], 40n, 'offset argument: the SYN header length');
  assert.equal(r.helperCalls[1]!.args[3], 0n, 'flags');
  assert.ok(r.insnCount >= 13);
  assert.deepEqual(sim.testRun(prog, { fd: g.fds[0]!, packet: { payload: u32(1) }, trace: false }).helperCalls, []);
});

test('testRun: empty slot -> -ENOENT, SK_PASS -> hash fallback; SK_DROP -> selected null', () => {
  const sim = new SimKernel();
  const g = group(sim, 2);
  const map = sockarray(sim, 4);
  const prog = loadAsm(sim, SELECT_BY_PAYLOAD(8), { map });
  const r = sim.testRun(prog, { group: g.fds[0]!, packet: { payload: u32(2), hash: 0 } });
  assert.equal(r.helperCalls[1]!.ret, -2n);
  assert.equal(r.fallback, true);
  assert.equal(r.selected!.index, 0, 'reciprocal_scale(0, 2) = 0');
  const drop = sim.testRun(loadAsm(sim, 'mov %r0, 0\nexit'), { fd: g.fds[0]! });
  assert.deepEqual([drop.verdict, drop.selected, drop.fallback], [0, null, false]);
});

test('testRun: the packet fields reach the program (hash, cpu, ports, family)', () => {
  const sim = new SimKernel({ cpus: 8 });
  const g = group(sim, 1, { v6: true, addr: '::' });
  const prog = loadAsm(sim, 'ldxw %r0, [%r1+32]\nexit');
  assert.equal(sim.testRun(prog, { fd: g.fds[0]!, packet: { hash: 0xdeadbeef } }).verdict, 0xdeadbeef);
  const cpu = loadAsm(sim, 'call get_smp_processor_id\nexit');
  assert.equal(sim.testRun(cpu, { fd: g.fds[0]!, packet: { cpu: 5 } }).verdict, 5);
  const eth = loadAsm(sim, 'ldxw %r0, [%r1+20]\nexit');
  assert.equal(sim.testRun(eth, { fd: g.fds[0]!, packet: { family: 'ipv4' } }).verdict, 0x0008);
  assert.equal(sim.testRun(eth, { fd: g.fds[0]!, packet: { family: 'ipv6' } }).verdict, 0xdd86);
  const sport = loadAsm(sim, 'ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r4, %r2\nadd %r4, 2\nmov %r0, 0\njgt %r4, %r3, +1\nldxh %r0, [%r2+0]\nexit');
  assert.equal(sim.testRun(sport, { fd: g.fds[0]!, packet: { sport: 0x1234 } }).verdict, 0x3412, 'network order read as LE u16');
});

test('testRun: SOCKET_FILTER programs give a socks[] index; out of range falls back', () => {
  const sim = new SimKernel();
  const g = group(sim, 3);
  const prog = sim.progLoad({ progType: BPF_PROG_TYPE_SOCKET_FILTER, insns: assemble('mov %r6, %r1\nldabsb 0\nexit') });
  const r = sim.testRun(prog, { fd: g.fds[0]!, packet: { payload: Uint8Array.of(2) } });
  assert.deepEqual([r.verdict, r.selected!.fd, r.fallback], [2, g.fds[2], false]);
  assert.equal(sim.testRun(prog, { fd: g.fds[0]!, packet: { payload: Uint8Array.of(7) } }).fallback, true);
});

test('testRun: migratingSk runs the program as a migration (len 0, migrating_sk set)', () => {
  const sim = new SimKernel();
  const g = group(sim, 2, { tcp: true });
  const c = sim.socket(AF_INET, SOCK_STREAM);
  sim.connect(c, '127.0.0.1', g.port);
  const child = sim.accept(g.fds[0]!) ?? sim.accept(g.fds[1]!);
  const prog = sim.progLoad({
    progType: BPF_PROG_TYPE_SK_REUSEPORT, expectedAttachType: 40,
    insns: assemble('ldxdw %r2, [%r1+48]\nmov %r0, 99\njeq %r2, 0, +2\nldxw %r0, [%r2+72]\nexit\nexit'),
  });
  assert.equal(sim.testRun(prog, { fd: g.fds[0]!, migratingSk: child }).verdict, 1, 'TCP_ESTABLISHED');
  assert.equal(sim.testRun(prog, { fd: g.fds[0]! }).verdict, 99);
});

test('testRun: clear errors for bad input', () => {
  const sim = new SimKernel();
  const g = group(sim, 1);
  const prog = loadAsm(sim, 'mov %r0, 1\nexit');
  throwsErrno(() => sim.testRun(prog, {}), 'EINVAL', /needs `fd`/);
  throwsErrno(() => sim.testRun(prog, { fd: sim.socket(AF_INET, SOCK_DGRAM) }), 'EINVAL', /not in a reuseport group/);
  throwsErrno(() => sim.testRun(g.fds[0]!, { fd: g.fds[0]! }), 'EINVAL', /not a bpf program/);
  throwsErrno(() => sim.testRun(prog, { fd: g.fds[0]!, packet: { sport: 70000 } }), 'EINVAL', /sport/);
  throwsErrno(() => sim.testRun(prog, { fd: g.fds[0]!, packet: { cpu: 9 } }), 'EINVAL', /cpu/);
  throwsErrno(() => sim.testRun(prog, { fd: g.fds[0]!, packet: { saddr: 'nonsense' } }), 'EINVAL');
});

test('createEmulatedSelector: worker index per packet, -1 on drop, program replaced and detached', () => {
  const sel = createEmulatedSelector({ workers: 4, protocol: 'udp', seed: 3 });
  const map = sockarray(sel.sim, 4);
  sel.fds.forEach((fd, i) => sel.sim.mapUpdateElem(map, u32(i), u64(fd)));
  sel.attach(loadAsm(sel.sim, SELECT_BY_PAYLOAD(8), { map }));
  const pkt = sel.packet({ sport: 1234 });
  for (let i = 0; i < 4; i++) {
    pkt.payload = u32(i);
    assert.equal(sel.select(pkt), i);
  }
  pkt.payload = new Uint8Array(1);
  assert.equal(sel.select(pkt), -1, 'short payload: the program drops');
  sel.detach();
  const seen = new Set<number>();
  for (let h = 0; h < 64; h++) { pkt.hash = (h * 0x9e3779b9) >>> 0; seen.add(sel.select(pkt)); }
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3], 'hash selection covers every worker');
  sel.close();
  assert.throws(() => createEmulatedSelector({ workers: 0 }), /workers must be/);
});
