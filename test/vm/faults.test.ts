/**
 * Bad programs end in a typed VmError naming the pc and the reason, on both engines:
 * never a raw JS exception, never a hang, never a write outside the program's regions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/ebpf/assembler.js';
import { encode } from '../../src/ebpf/insn.js';
import { loadProgram, Memory, runProgram, VmError, type VmErrorReason } from '../../src/vm/index.js';

const MODES = ['interpreter', 'compiled'] as const;

function expectVmError(fn: () => unknown, reason: VmErrorReason, pc: number): VmError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof VmError, `expected VmError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    assert.equal(e.pc, pc, e.message);
    return e;
  }
  assert.fail(`expected VmError ${reason} at pc ${pc}, but the program ran`);
}

for (const mode of MODES) {
  const run = (src: string | Uint8Array, mem?: Uint8Array, budget?: number): bigint =>
    runProgram(typeof src === 'string' ? assemble(src) : src, { mode, mem, budget });

  test(`${mode}: load past the end of mem faults at that load`, () => {
    const mem = new Uint8Array(8);
    assert.equal(run('ldxdw %r0, [%r1+0]\nexit', mem), 0n);
    expectVmError(() => run('mov %r0, 0\nldxw %r0, [%r1+5]\nexit', mem), 'out-of-bounds', 1);
    expectVmError(() => run('ldxb %r0, [%r1-1]\nexit', mem), 'out-of-bounds', 0);
  });

  test(`${mode}: NULL and wild pointers fault`, () => {
    expectVmError(() => run('mov %r1, 0\nldxb %r0, [%r1+0]\nexit'), 'out-of-bounds', 1);
    expectVmError(() => run('lddw %r1, 0x7777000000000000\nstxb [%r1+0], %r1\nexit'), 'out-of-bounds', 2);
    // addresses are flat 64-bit: an offset carrying past 2^32 lands in the next region (frame 0's stack)
    assert.equal(run('stb [%r10-512], 0x5a\nlddw %r1, 0xffffffff\nldxb %r0, [%r1+1]\nexit'), 0x5an);
    expectVmError(() => run('lddw %r1, 0xffffffff\nldxb %r0, [%r1+0]\nexit'), 'out-of-bounds', 2);
  });

  test(`${mode}: each frame has its own 512-byte stack below r10`, () => {
    assert.equal(run('stdw [%r10-512], 7\nldxdw %r0, [%r10-512]\nexit'), 7n);
    expectVmError(() => run('stdw [%r10-520], 7\nexit'), 'out-of-bounds', 0);
    expectVmError(() => run('ldxb %r0, [%r10+0]\nexit'), 'out-of-bounds', 0);
    // the callee writes its own stack; the caller's slot survives
    assert.equal(run(`
      stdw [%r10-8], 42
      call local f
      ldxdw %r0, [%r10-8]
      exit
      f:
      stdw [%r10-8], 99
      mov %r0, 0
      exit`), 42n);
    // a callee may still reach the caller's frame through a pointer passed in r1
    assert.equal(run(`
      mov %r1, %r10
      add %r1, -8
      call local f
      ldxdw %r0, [%r10-8]
      exit
      f:
      stdw [%r1+0], 5
      exit`), 5n);
  });

  test(`${mode}: stores to a read-only region fault`, () => {
    const mem = new Memory();
    const ctx = mem.map(new Uint8Array(56), { writable: false, name: 'ctx' });
    const prog = loadProgram(assemble('ldxw %r0, [%r1+0]\nstw [%r1+0], 1\nexit'), { mode });
    expectVmError(() => prog.run(mem, ctx.base), 'read-only', 1);
    assert.deepEqual([...ctx.bytes], new Array(56).fill(0));
    const atomic = loadProgram(assemble('mov %r2, 1\nlock add [%r1+0], %r2\nexit'), { mode });
    expectVmError(() => atomic.run(mem, ctx.base), 'read-only', 1);
  });

  test(`${mode}: jumps out of the program or into an lddw are refused at load`, () => {
    expectVmError(() => run('ja +5\nexit'), 'jump-out-of-range', 0);
    expectVmError(() => run('mov %r0, 0\njeq %r0, 0, -3\nexit'), 'jump-out-of-range', 1);
    expectVmError(() => run('ja +1\nlddw %r0, 1\nexit'), 'jump-into-lddw', 0);
    expectVmError(() => run(encode([{ opcode: 0x85, dst: 0, src: 1, off: 0, imm: 7 }, { opcode: 0x95, dst: 0, src: 0, off: 0, imm: 0 }])), 'jump-out-of-range', 0);
  });

  test(`${mode}: the instruction budget stops endless loops`, () => {
    const prog = loadProgram(assemble('mov %r0, 0\nloop:\nadd %r0, 1\nja loop'), { mode, budget: 1001 });
    const e = expectVmError(() => prog.run(new Memory()), 'budget-exceeded', 1);
    assert.match(e.message, /1001/);
    assert.equal(prog.insnCount, 1001);
    // a program needing exactly the budget runs
    const exact = loadProgram(assemble('mov %r0, 1\nadd %r0, 1\nexit'), { mode, budget: 3 });
    assert.equal(exact.run(new Memory()), 2);
    assert.equal(exact.insnCount, 3);
    const short = loadProgram(assemble('mov %r0, 1\nadd %r0, 1\nexit'), { mode, budget: 2 });
    expectVmError(() => short.run(new Memory()), 'budget-exceeded', 2);
    // default budget: 1,000,000
    expectVmError(() => run('ja -1'), 'budget-exceeded', 0);
  });

  test(`${mode}: unknown helpers and kfuncs`, () => {
    expectVmError(() => run('mov %r0, 0\ncall 6\nexit'), 'unknown-helper', 1);
    expectVmError(() => run('mov %r2, 77\ncallx %r2\nexit'.replace('callx', 'call')), 'unknown-helper', 1);
    expectVmError(() => run(encode([{ opcode: 0x85, dst: 0, src: 2, off: 0, imm: 1 }, { opcode: 0x95, dst: 0, src: 0, off: 0, imm: 0 }])), 'unsupported', 0);
  });

  test(`${mode}: recursion deeper than 8 frames is a stack overflow`, () => {
    const src = (depth: number): string => `
      mov %r1, ${depth}
      call local f
      exit
      f:
      mov %r0, %r1
      jeq %r1, 0, out
      sub %r1, 1
      call local f
      out:
      exit`;
    assert.equal(run(src(6)), 0n); // 7 frames in all
    expectVmError(() => run(src(7)), 'call-depth', 6);
  });

  test(`${mode}: r10 is read-only`, () => {
    expectVmError(() => run('mov %r10, 0\nexit'), 'write-r10', 0);
    expectVmError(() => run('mov %r0, 0\nldxdw %r10, [%r10-8]\nexit'), 'write-r10', 1);
    expectVmError(() => run('mov %r10, 1\nlock fetch add [%r10-8], %r10\nexit'.split('\n').slice(1).join('\n')), 'write-r10', 0);
    expectVmError(() => run('or %r0, %r10\nexit'), 'r10-arithmetic', 0);
    assert.notEqual(run('mov %r0, %r10\nadd %r0, -8\nexit'), 0n);
  });

  test(`${mode}: falling off the end, empty programs`, () => {
    expectVmError(() => run('mov %r0, 1'), 'fell-off-end', 1);
    expectVmError(() => run('mov %r0, 1\njeq %r0, 2, -2'), 'fell-off-end', 2);
    expectVmError(() => run('mov %r0, 1\njeq %r0, 1, +0'), 'jump-out-of-range', 1);
    expectVmError(() => run(new Uint8Array(0)), 'empty-program', 0);
  });

  test(`${mode}: legacy ld_abs/ld_ind read the packet in network order`, () => {
    const pkt = Uint8Array.from([0x45, 0x00, 0x00, 0x54, 0xde, 0xad, 0xbe, 0xef]);
    assert.equal(run('ldabsw 4\nexit', pkt), 0xdeadbeefn);
    assert.equal(run('ldabsh 2\nexit', pkt), 0x54n);
    assert.equal(run('mov %r6, 3\nldindb %r6, 1\nexit', pkt), 0xden);
    // outside the packet the program ends returning 0, as the kernel does
    assert.equal(run('mov %r0, 7\nldabsw 6\nmov %r0, 9\nexit', pkt), 0n);
    assert.equal(run('mov %r6, -8\nldindb %r6, 1\nmov %r0, 9\nexit', pkt), 0n);
    expectVmError(() => run('ldabsb 0\nexit'), 'no-packet', 0);
  });
}

test('loadProgram and run refuse arguments of the wrong kind with VmError', () => {
  expectVmError(() => loadProgram(assemble('exit'), { budget: -1 }), 'bad-argument', -1);
  expectVmError(() => loadProgram(assemble('exit'), { mode: 'jit' as never }), 'bad-argument', -1);
  const prog = loadProgram(assemble('mov %r0, %r1\nexit'));
  expectVmError(() => prog.run({} as Memory), 'bad-argument', -1);
  expectVmError(() => prog.run(new Memory(), 1.5), 'bad-argument', -1);
  expectVmError(() => prog.run(new Memory(), 2 ** 60), 'bad-argument', -1);
  expectVmError(() => loadProgram(assemble('lddw %r1, map_fd 3\nexit')), 'unsupported', 0);
});
