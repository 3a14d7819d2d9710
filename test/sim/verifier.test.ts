/** Load-time checks: what the kernel's verifier refuses, with its errno and log line. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble, encode, type Insn } from '../../src/ebpf/index.js';
import {
  BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH, BPF_PROG_TYPE_SK_REUSEPORT,
  BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_XDP,
} from '../../src/kernel/index.js';
import { SimKernel, sockarray, throwsErrno } from './helpers.js';

const load = (sim: SimKernel, src: string, maps: Record<string, number> = {}, progType = BPF_PROG_TYPE_SK_REUSEPORT, eat = 0): number =>
  sim.progLoad({ progType, insns: assemble(src, { maps }), expectedAttachType: eat, license: 'GPL' });

test('prog_load: attach types 0 -> 39, 39, 40 accepted; others EINVAL; unsupported types EINVAL', () => {
  const sim = new SimKernel();
  assert.ok(load(sim, 'mov %r0, 1\nexit', {}, BPF_PROG_TYPE_SK_REUSEPORT, 0) > 0);
  assert.equal(sim.programOf(load(sim, 'mov %r0, 1\nexit', {}, BPF_PROG_TYPE_SK_REUSEPORT, 0)).expectedAttachType, 39);
  load(sim, 'mov %r0, 1\nexit', {}, BPF_PROG_TYPE_SK_REUSEPORT, 40);
  throwsErrno(() => load(sim, 'mov %r0, 1\nexit', {}, BPF_PROG_TYPE_SK_REUSEPORT, 41), 'EINVAL');
  const xdp = load(sim, 'ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 1\nmov %r0, 2\njgt %r4, %r3, +1\nstb [%r2+0], 0\nexit', {}, BPF_PROG_TYPE_XDP);
  const u = sim.socket(2, 2);
  sim.setsockopt(u, 1, 15, 1);
  throwsErrno(() => sim.setsockopt(u, 1, 52, xdp), 'EINVAL', /not a SOCKET_FILTER or SK_REUSEPORT program/);
  throwsErrno(() => load(sim, 'mov %r0, 1\nexit', {}, 3), 'EINVAL');
  throwsErrno(() => sim.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: new Uint8Array(0) }), 'E2BIG');
  throwsErrno(() => new SimKernel({ capabilities: ['CAP_NET_ADMIN'] }).progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: assemble('mov %r0, 1\nexit') }), 'EPERM');
  throwsErrno(() => sim.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: assemble('mov %r0, 1\nexit'), name: 'way-too-long-name-here' }), 'EINVAL');
});

test('R0 !read_ok and uninitialised registers (EACCES)', () => {
  const sim = new SimKernel();
  throwsErrno(() => load(sim, 'exit'), 'EACCES', /0: \(95\) exit\nR0 !read_ok/);
  throwsErrno(() => load(sim, 'mov %r0, %r2\nexit'), 'EACCES', /R2 !read_ok/);
  throwsErrno(() => load(sim, 'mov %r0, 0\njeq %r1, 0, +1\nmov %r0, %r5\nexit'), 'EACCES', /R5 !read_ok/);
  throwsErrno(() => load(sim, 'call 7\nmov %r0, %r1\nexit'), 'EACCES', /R1 !read_ok/, );
});

test('control flow: jumps out of range, falling off the end, unreachable code', () => {
  const sim = new SimKernel();
  throwsErrno(() => load(sim, 'mov %r0, 1\nja +5\nexit'), 'EINVAL', /jump out of range from insn 1 to 7/);
  throwsErrno(() => load(sim, 'mov %r0, 1'), 'EINVAL', /last insn is not an exit or jmp/);
  throwsErrno(() => load(sim, 'mov %r0, 1\nexit\nmov %r0, 2\nexit'), 'EINVAL', /unreachable insn 2/);
  const bad: Insn[] = [{ opcode: 0xb7, dst: 0, src: 0, off: 0, imm: 1 }, { opcode: 0x8d, dst: 0, src: 0, off: 0, imm: 0 }];
  const bytes = encode(bad);
  bytes[8] = 0xff;
  throwsErrno(() => sim.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: bytes }), 'EINVAL', /unknown opcode ff/);
  const raw = (...words: number[][]): Uint8Array => encode(words.map(([opcode, dst, src, off, imm]) => ({ opcode: opcode!, dst: dst ?? 0, src: src ?? 0, off: off ?? 0, imm: imm ?? 0 })));
  throwsErrno(() => sim.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: raw([0xb7, 0, 0, 3, 1], [0x95]) }), 'EINVAL', /BPF_MOV uses reserved fields/);
  throwsErrno(() => sim.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: raw([0xb7, 11, 0, 0, 1], [0x95]) }), 'EINVAL', /R11 is invalid/);
  throwsErrno(() => sim.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: raw([0x18, 1], [0x95]) }), 'EINVAL', /invalid bpf_ld_imm64 insn/);
  throwsErrno(() => sim.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: raw([0x8d, 1], [0x95]) }), 'EINVAL', /unknown opcode 8d/);
  throwsErrno(() => sim.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: raw([0xb7, 10, 0, 0, 1], [0xb7, 0, 0, 0, 1], [0x95]) }), 'EACCES', /frame pointer is read only/);
});

test('bounded loops load; a loop whose state never changes is an infinite loop', () => {
  const sim = new SimKernel();
  load(sim, 'mov %r0, 0\nmov %r1, 0\nloop:\nadd %r0, 2\nadd %r1, 1\njlt %r1, 100, loop\nexit');
  throwsErrno(() => load(sim, 'mov %r0, 1\nloop:\njeq %r0, 1, loop\nexit'), 'EINVAL', /infinite loop detected at insn 1/);
  // Linux 6.18 reports the conditional jump, where its first checkpoint of the loop was taken
  throwsErrno(() => load(sim, 'loop:\ncall 7\njne %r0, 0, loop\nexit'), 'EINVAL', /infinite loop detected at insn 1/);
});

test('context access: sk_reuseport_md offsets, sizes, read-only', () => {
  const sim = new SimKernel();
  for (const ok of ['ldxw %r0, [%r1+16]', 'ldxb %r0, [%r1+16]', 'ldxh %r0, [%r1+22]', 'ldxw %r0, [%r1+24]', 'ldxb %r0, [%r1+28]', 'ldxw %r0, [%r1+32]', 'ldxdw %r0, [%r1+40]']) {
    load(sim, `${ok}\nmov %r0, 1\nexit`);
  }
  throwsErrno(() => load(sim, 'ldxw %r0, [%r1+36]\nexit'), 'EACCES', /invalid bpf_context access off=36 size=4/);
  throwsErrno(() => load(sim, 'ldxb %r0, [%r1+21]\nexit'), 'EACCES', /off=21 size=1/);
  throwsErrno(() => load(sim, 'ldxh %r0, [%r1+32]\nexit'), 'EACCES', /off=32 size=2/);
  throwsErrno(() => load(sim, 'ldxw %r0, [%r1+0]\nexit'), 'EACCES', /off=0 size=4/);
  throwsErrno(() => load(sim, 'ldxw %r0, [%r1+56]\nexit'), 'EACCES', /off=56/);
  throwsErrno(() => load(sim, 'stw [%r1+16], 1\nmov %r0, 1\nexit'), 'EACCES', /invalid bpf_context access/);
  throwsErrno(() => load(sim, 'add %r1, 4\nldxw %r0, [%r1+12]\nexit'), 'EACCES', /dereference of modified ctx ptr R1 off=4/);
});

test('packet access needs a data_end check; writes are refused', () => {
  const sim = new SimKernel();
  const hdr = 'ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\n';
  throwsErrno(() => load(sim, `${hdr}ldxh %r0, [%r2+0]\nexit`), 'EACCES', /invalid access to packet, off=0 size=2/);
  load(sim, `${hdr}mov %r4, %r2\nadd %r4, 8\nmov %r0, 0\njgt %r4, %r3, +1\nldxw %r0, [%r2+4]\nexit`);
  throwsErrno(() => load(sim, `${hdr}mov %r4, %r2\nadd %r4, 8\nmov %r0, 0\njgt %r4, %r3, +1\nldxw %r0, [%r2+6]\nexit`), 'EACCES', /off=6 size=4/);
  throwsErrno(() => load(sim, `${hdr}mov %r4, %r2\nadd %r4, 8\nmov %r0, 0\njgt %r4, %r3, +1\nstw [%r2+0], 1\nexit`), 'EACCES', /cannot write into packet/);
});

test('migrating_sk must be NULL-checked; sk fields are readable', () => {
  const sim = new SimKernel();
  throwsErrno(() => load(sim, 'ldxdw %r2, [%r1+48]\nldxw %r0, [%r2+72]\nexit'), 'EACCES', /invalid mem access 'sock_common_or_null'/);
  load(sim, 'ldxdw %r2, [%r1+48]\nmov %r0, 1\njeq %r2, 0, +1\nldxw %r0, [%r2+72]\nexit');
  load(sim, 'ldxdw %r2, [%r1+40]\nldxw %r0, [%r2+12]\nexit');
  throwsErrno(() => load(sim, 'ldxdw %r2, [%r1+48]\njeq %r2, 0, +2\nldxw %r0, [%r2+8]\nexit\nmov %r0, 1\nexit'), 'EACCES', /invalid sock_common access off=8/);
});

test('helpers: allowed set for SK_REUSEPORT, argument types, map compatibility', () => {
  const sim = new SimKernel();
  throwsErrno(() => load(sim, 'call 6\nexit'), 'EACCES', /R1 type=ctx expected=fp/);
  throwsErrno(() => load(new SimKernel({ capabilities: ['CAP_BPF'] }), 'call 6\nexit'), 'EINVAL', /program of this type cannot use helper bpf_trace_printk#6/);
  throwsErrno(() => sim.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: assemble('call 6\nexit'), license: 'Proprietary' }), 'EINVAL', /GPL-restricted/);
  load(sim, 'call get_current_task\nmov %r0, 1\nexit');
  throwsErrno(() => load(sim, 'call strtol\nmov %r0, 1\nexit'), 'EACCES', /not simulated/);
  throwsErrno(() => load(sim, 'call 9\nexit'), 'EINVAL', /cannot use helper bpf_skb_store_bytes#9/);
  throwsErrno(() => load(sim, 'call 999\nexit'), 'EINVAL', /invalid func unknown#999/);
  const sa = sockarray(sim);
  const arr = sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 4 });
  const key = 'stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\n';
  throwsErrno(() => load(sim, `${key}lddw %r1, map_fd sa\ncall 1\nmov %r0, 1\nexit`, { sa }), 'EINVAL', /cannot pass map_type 20 into func bpf_map_lookup_elem#1/);
  throwsErrno(() => load(sim, `stw [%r10-4], 0\nmov %r3, %r10\nadd %r3, -4\nlddw %r2, map_fd arr\nmov %r4, 0\ncall 82\nmov %r0, 1\nexit`, { arr }), 'EINVAL', /cannot pass map_type 2 into func bpf_sk_select_reuseport#82/);
  throwsErrno(() => load(sim, `stw [%r10-4], 0\nmov %r3, %r10\nadd %r3, -4\nmov %r2, 0\nmov %r4, 0\ncall 82\nmov %r0, 1\nexit`), 'EACCES', /R2 type=scalar expected=map_ptr/);
  throwsErrno(() => load(sim, `mov %r6, %r1\nmov %r1, 0\nstw [%r10-4], 0\nmov %r3, %r10\nadd %r3, -4\nlddw %r2, map_fd sa\nmov %r4, 0\ncall 82\nmov %r0, 1\nexit`, { sa }), 'EACCES', /R1 type=scalar expected=ctx/);
  // map value use: NULL check required, bounds checked
  load(sim, `${key}lddw %r1, map_fd arr\ncall 1\nldxdw %r0, [%r0+0]\nexit`, { arr }); // constant in-range key: never NULL
  throwsErrno(() => load(sim, `stw [%r10-4], 4\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd arr\ncall 1\nldxdw %r0, [%r0+0]\nexit`, { arr }), 'EACCES', /invalid mem access 'map_value_or_null'/);
  throwsErrno(() => load(sim, 'call 12\nexit'), 'EACCES', /R2 !read_ok/);
  throwsErrno(() => load(sim, `mov %r3, 0\nlddw %r2, map_fd arr\ncall 12\nmov %r0, 1\nexit`, { arr }), 'EINVAL', /cannot pass map_type 2 into func bpf_tail_call#12/);
  throwsErrno(() => load(sim, `${key}lddw %r1, map_fd arr\ncall 1\njeq %r0, 0, +2\nldxdw %r0, [%r0+4]\nexit\nmov %r0, 1\nexit`, { arr }), 'EACCES', /invalid access to map value, value_size=8 off=4 size=8/);
  load(sim, `${key}lddw %r1, map_fd arr\ncall 1\njeq %r0, 0, +2\nldxdw %r0, [%r0+0]\nexit\nmov %r0, 1\nexit`, { arr });
});

test('map-in-map: the inner map from a lookup can go to bpf_sk_select_reuseport after a NULL check', () => {
  const sim = new SimKernel();
  const inner = sockarray(sim, 4, 4);
  const outer = sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 1, innerMapFd: inner });
  const body = (check: boolean): string => `
    mov %r6, %r1
    stw [%r10-4], 0
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_fd outer
    call 1
    ${check ? 'jeq %r0, 0, out' : ''}
    mov %r1, %r6
    mov %r2, %r0
    mov %r3, %r10
    add %r3, -4
    mov %r4, 0
    call 82
  out:
    mov %r0, 1
    exit`;
  load(sim, body(true), { outer });
  throwsErrno(() => load(sim, body(false), { outer }), 'EACCES', /R2 type=map_ptr_or_null expected=map_ptr/);
});

test('stack: bounds, uninitialised reads without CAP_PERFMON, 512 bytes across calls', () => {
  const root = new SimKernel();
  throwsErrno(() => load(root, 'stw [%r10-516], 0\nmov %r0, 1\nexit'), 'EACCES', /invalid write to stack R10 off=-516 size=4/);
  throwsErrno(() => load(root, 'stw [%r10+0], 0\nmov %r0, 1\nexit'), 'EACCES');
  load(root, 'ldxw %r0, [%r10-4]\nexit');
  const bpfOnly = new SimKernel({ capabilities: ['CAP_BPF', 'CAP_NET_ADMIN'] });
  throwsErrno(() => load(bpfOnly, 'ldxw %r0, [%r10-4]\nexit'), 'EACCES', /invalid read from stack off -4\+0 size 4/);
  const sa = sockarray(bpfOnly);
  throwsErrno(() => load(bpfOnly, 'mov %r3, %r10\nadd %r3, -4\nlddw %r2, map_fd sa\nmov %r4, 0\ncall 82\nmov %r0, 1\nexit', { sa }), 'EACCES', /invalid read from stack R3 off -4\+0 size 4/);
  load(root, 'mov %r3, %r10\nadd %r3, -4\nlddw %r2, map_fd sa\nmov %r4, 0\ncall 82\nmov %r0, 1\nexit', { sa: sockarray(root) });
  throwsErrno(() => load(root, `
    stdw [%r10-512], 0
    call local f
    exit
  f:
    stdw [%r10-8], 0
    mov %r0, 1
    exit`), 'EACCES', /combined stack size of 2 calls is 528/);
});

test('map flags seen by programs: BPF_F_RDONLY_PROG refuses stores and updates', () => {
  const sim = new SimKernel();
  const ro = sim.mapCreate({ mapType: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 4, maxEntries: 1, mapFlags: BPF_F_RDONLY_PROG });
  const key = 'stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\n';
  throwsErrno(() => load(sim, `${key}lddw %r1, map_fd ro\ncall 1\njeq %r0, 0, +1\nstw [%r0+0], 1\nmov %r0, 1\nexit`, { ro }), 'EACCES', /write into map forbidden/);
  throwsErrno(() => load(sim, `${key}mov %r3, %r2\nlddw %r1, map_fd ro\nmov %r4, 0\ncall 2\nmov %r0, 1\nexit`, { ro }), 'EACCES', /write into map forbidden/);
});

test('ld_imm64 map fds: EBADF for a closed fd; SOCKET_FILTER ld_abs needs r6 = ctx; SK_REUSEPORT has no ld_abs', () => {
  const sim = new SimKernel();
  throwsErrno(() => load(sim, 'lddw %r1, map_fd 77\nmov %r0, 1\nexit'), 'EBADF', /fd 77 is not pointing to valid bpf_map/);
  throwsErrno(() => load(sim, 'ldabsw 0\nexit', {}, BPF_PROG_TYPE_SOCKET_FILTER), 'EINVAL', /R6 != pointer to skb/);
  throwsErrno(() => load(sim, 'mov %r6, %r1\nldabsw 0\nexit'), 'EINVAL', /BPF_LD_\[ABS\|IND\] instructions not allowed/);
  load(sim, 'mov %r6, %r1\nldabsw 0\nexit', {}, BPF_PROG_TYPE_SOCKET_FILTER);
});

test('the log names the refused instruction and is cut to log_size', () => {
  const sim = new SimKernel();
  const e = throwsErrno(() => load(sim, 'mov %r0, 1\nldxw %r0, [%r1+36]\nexit'), 'EACCES');
  assert.match(e.log!, /^1: \(61\) .*\ninvalid bpf_context access off=36 size=4\nprocessed 2 insns \(limit 1000000\)/);
  assert.equal(e.message.endsWith('invalid bpf_context access off=36 size=4'), true);
  const short = throwsErrno(() => sim.progLoad({ progType: BPF_PROG_TYPE_SK_REUSEPORT, insns: assemble('exit'), logSize: 8 }), 'EACCES');
  assert.equal(short.log!.length, 7);
});

test('variable offsets: bounded stack and packet accesses load, division by constant zero does not', () => {
  const sim = new SimKernel();
  load(sim, 'ldxw %r2, [%r1+16]\nand %r2, 7\nmov %r3, %r10\nadd %r3, -8\nadd %r3, %r2\nstb [%r3+0], 1\nmov %r0, 1\nexit');
  throwsErrno(() => load(sim, 'ldxw %r2, [%r1+16]\nand %r2, 15\nmov %r3, %r10\nadd %r3, -8\nadd %r3, %r2\nstb [%r3+0], 1\nmov %r0, 1\nexit'), 'EINVAL', /invalid variable-offset write to stack R3 var_off=\(0x0; 0xf\) off=-8 size=1/);
  throwsErrno(() => load(sim, 'ldxw %r2, [%r1+16]\nand %r2, 3\nmov %r3, %r10\nadd %r3, -16\nadd %r3, %r2\nsth [%r3+0], 1\nmov %r0, 1\nexit'), 'EACCES', /misaligned stack access off \(0x0; 0x3\)\+-16\+0 size 2/);
  load(sim, 'ldxw %r2, [%r1+16]\nand %r2, 3\nlsh %r2, 2\nmov %r3, %r10\nadd %r3, -16\nadd %r3, %r2\nstw [%r3+0], 1\nmov %r0, 1\nexit');
  throwsErrno(() => load(sim, 'ldxw %r0, [%r10-6]\nexit'), 'EACCES', /misaligned stack access off 0\+0\+-6 size 4/);
  load(sim, 'ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nldxw %r4, [%r1+16]\nand %r4, 15\nadd %r2, %r4\nmov %r5, %r2\nadd %r5, 4\nmov %r0, 0\njgt %r5, %r3, +1\nldxw %r0, [%r2+0]\nexit');
  throwsErrno(() => load(sim, 'ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r5, %r2\nadd %r5, 4\nldxw %r4, [%r1+16]\nand %r4, 15\nadd %r2, %r4\nmov %r0, 0\njgt %r5, %r3, +1\nldxw %r0, [%r2+0]\nexit'), 'EACCES', /outside of the packet/);
  throwsErrno(() => load(sim, 'mov %r0, 1\nsdiv %r0, 0\nexit'), 'EINVAL', /div by zero/);
  throwsErrno(() => load(sim, 'mov %r2, 0\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 9\ncall 26\nexit'), 'EINVAL', /invalid write to stack R3 off=-8 size=9/);
  load(sim, 'ldxdw %r1, [%r1+48]\ncall get_socket_cookie\nexit'); // NULL-able socket: cookie 0
});

test('direct map value access (global data): ARRAY with one element only', () => {
  const sim = new SimKernel();
  const a1 = sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 });
  const a4 = sim.mapCreate({ mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 4 });
  const h = sim.mapCreate({ mapType: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: 1 });
  const prog = load(sim, 'lddw %r1, map_value a1 4\nldxw %r0, [%r1+0]\nexit', { a1 });
  sim.mapUpdateElem(a1, new Uint8Array(4), Uint8Array.of(0, 0, 0, 0, 42, 0, 0, 0));
  const g = sim.socket(2, 2);
  sim.setsockopt(g, 1, 15, 1);
  sim.bind(g, '127.0.0.1', 0);
  assert.equal(sim.testRun(prog, { fd: g }).verdict, 42);
  throwsErrno(() => load(sim, 'lddw %r1, map_value a4 0\nmov %r0, 1\nexit', { a4 }), 'ENOTSUPP');
  throwsErrno(() => load(sim, 'lddw %r1, map_value a1 8\nmov %r0, 1\nexit', { a1 }), 'EINVAL');
  throwsErrno(() => load(sim, 'lddw %r1, map_value h 0\nmov %r0, 1\nexit', { h }), 'EINVAL', /no direct value access/);
});
