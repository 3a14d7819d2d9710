/**
 * The program API the simulated kernel uses: regions mapped once and updated in place, helpers
 * reading VM memory by address, typed helper failures, lddw resolution, reuse across runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/ebpf/assembler.js';
import { DecodeError, decode, encode, type Insn } from '../../src/ebpf/insn.js';
import { COMPILE_LIMIT, HelperError, ProgramExit, loadProgram, Memory, runProgram, VmError, type HelperCall } from '../../src/vm/index.js';

const MODES = ['interpreter', 'compiled'] as const;

for (const mode of MODES) {
  test(`${mode}: SK_REUSEPORT-shaped run: ctx region, map value via lookup helper, select helper`, () => {
    const mem = new Memory();
    const ctxBytes = new Uint8Array(56);
    const ctx = mem.map(ctxBytes, { writable: false, name: 'ctx' });
    const ctxView = new DataView(ctxBytes.buffer);
    // an array map of 4 u32 values, handed out at stable addresses by map_lookup_elem (helper 1)
    const values = new Uint8Array(16);
    const valueRegion = mem.map(values, { name: 'array value' });
    const MAP_HANDLE = 0x1000;
    let selected = -1;
    const helpers = {
      1: (c: HelperCall): number => {
        assert.equal(c.num(1), MAP_HANDLE);
        const key = c.mem.load32(c.addr(2));
        return key < 4 ? valueRegion.addr(key * 4) : 0;
      },
      82: (c: HelperCall): number => {
        assert.equal(c.addr(1), ctx.base);
        selected = c.mem.load32(c.addr(3));
        return c.u32(4) === 0 ? 0 : -22; // -EINVAL for unknown flags
      },
    };
    const prog = loadProgram(assemble(`
      mov %r6, %r1
      ldxw %r2, [%r6+0]
      and32 %r2, 3
      stxw [%r10-4], %r2
      lddw %r1, map_fd 7
      mov %r2, %r10
      add %r2, -4
      call 1
      jeq %r0, 0, drop
      ldxw %r3, [%r0+0]
      add32 %r3, 1
      stxw [%r0+0], %r3
      mov %r1, %r6
      lddw %r2, map_fd 7
      mov %r3, %r10
      add %r3, -4
      mov %r4, 0
      call 82
      jne %r0, 0, drop
      mov %r0, 1
      exit
      drop:
      mov %r0, 0
      exit`), { mode, helpers, resolveLddw: (insn) => (insn.src === 1 && insn.imm === 7 ? MAP_HANDLE : 0) });
    for (let hash = 0; hash < 12; hash++) {
      ctxView.setUint32(0, hash, true);
      assert.equal(prog.run(mem, ctx.base), 1);
      assert.equal(selected, hash & 3);
      assert.ok(prog.insnCount > 20);
    }
    assert.deepEqual([...new Uint32Array(values.buffer)], [3, 3, 3, 3]);
  });

  test(`${mode}: helper results: negative numbers sign-extend, bigints wrap, setR0 keeps 64 bits`, () => {
    const helpers = {
      1: (): number => -22,
      2: (): bigint => (1n << 64n) + 5n,
      3: (c: HelperCall): void => c.setR0(0x89abcdef | 0, 0x01234567),
      4: (c: HelperCall): bigint => c.i64(1),
      5: (): number => 2 ** 40 + 3,
    };
    const r = (src: string): bigint => runProgram(assemble(src), { mode, helpers });
    assert.equal(r('call 1\nexit'), 2n ** 64n - 22n);
    assert.equal(r('call 2\nexit'), 5n);
    assert.equal(r('call 3\nexit'), 0x0123456789abcdefn);
    assert.equal(r('mov %r1, -9\ncall 4\nexit'), 2n ** 64n - 9n);
    assert.equal(r('call 5\nexit'), 2n ** 40n + 3n);
    assert.throws(() => runProgram(assemble('call 1\nexit'), { mode, helpers: { 1: () => 1.5 } }),
      (e: unknown) => e instanceof VmError && e.reason === 'helper-result' && e.pc === 0);
    assert.throws(() => runProgram(assemble('call 1\nexit'), { mode, helpers: { 1: () => 'x' as never } }),
      (e: unknown) => e instanceof VmError && e.reason === 'helper-result');
  });

  test(`${mode}: a failing helper ends the program with a typed error at the call`, () => {
    const thrower = (what: unknown) => ({ 9: (): never => { throw what; } });
    const cases: [unknown, string][] = [
      [new HelperError('map is frozen', 1), 'helper-failed'],
      [new TypeError('boom'), 'helper-failed'],
      ['a string', 'helper-failed'],
    ];
    for (const [what, reason] of cases) {
      assert.throws(() => runProgram(assemble('mov %r0, 0\ncall 9\nexit'), { mode, helpers: thrower(what) }),
        (e: unknown) => e instanceof VmError && e.reason === reason && e.pc === 1);
    }
    // helpers' own memory accesses are bounds-checked and blamed on the call
    const reader = { 9: (c: HelperCall): number => c.mem.load32(c.addr(1) + 6) };
    assert.throws(() => runProgram(assemble('mov %r0, 0\ncall 9\nexit'), { mode, helpers: reader, mem: new Uint8Array(8) }),
      (e: unknown) => e instanceof VmError && e.reason === 'out-of-bounds' && e.pc === 1);
    const writer = { 9: (c: HelperCall): number => { c.mem.write(c.addr(1), Uint8Array.of(1, 2)); return 0; } };
    const mem = new Memory();
    const ro = mem.map(new Uint8Array(4), { writable: false });
    const prog = loadProgram(assemble('call 9\nexit'), { mode, helpers: writer });
    assert.throws(() => prog.run(mem, ro.base), (e: unknown) => e instanceof VmError && e.reason === 'read-only' && e.pc === 0);
    // the program object stays usable after a failure
    const rw = mem.map(new Uint8Array(4));
    assert.equal(prog.run(mem, rw.base), 0);
    assert.deepEqual([...rw.bytes], [1, 2, 0, 0]);
  });

  test(`${mode}: a packet region's length changes in place between runs`, () => {
    const mem = new Memory();
    const buf = new Uint8Array(1500);
    buf[99] = 0xab;
    const pkt = mem.map(buf, { writable: false, name: 'packet', length: 100 });
    const prog = loadProgram(assemble('ldxb %r0, [%r1+99]\nexit'), { mode });
    assert.equal(prog.run(mem, pkt.base), 0xab);
    pkt.setLength(64);
    assert.throws(() => prog.run(mem, pkt.base), (e: unknown) => e instanceof VmError && e.reason === 'out-of-bounds' && e.pc === 0);
    pkt.setBytes(Uint8Array.from({ length: 100 }, (_, i) => i));
    assert.equal(prog.run(mem, pkt.base), 99);
    assert.throws(() => pkt.setLength(2000), (e: unknown) => e instanceof VmError && e.reason === 'bad-argument');
    mem.unmap(pkt);
    assert.throws(() => prog.run(mem, pkt.base), (e: unknown) => e instanceof VmError && e.reason === 'out-of-bounds');
  });

  test(`${mode}: a helper can end the program early (tail-call model)`, () => {
    const mem = new Memory();
    const target = loadProgram(assemble('mov %r0, %r1\nadd %r0, 100\nexit'), { mode });
    const tailCall = (c: HelperCall): never => {
      target.run(c.mem, c.num(1));
      throw new ProgramExit(target.r0());
    };
    const prog = loadProgram(assemble('mov %r1, 5\ncall 12\nmov %r0, 0\nexit'), { mode, helpers: { 12: tailCall } });
    assert.equal(prog.run(mem), 105);
    assert.equal(prog.r0(), 105n);
  });

  test(`${mode}: a helper may not re-enter the running program`, () => {
    let prog: ReturnType<typeof loadProgram> | undefined;
    const mem = new Memory();
    prog = loadProgram(assemble('call 1\nexit'), { mode, helpers: { 1: () => prog!.run(mem) } });
    assert.throws(() => prog!.run(mem), (e: unknown) => e instanceof VmError && e.reason === 'bad-argument' && e.pc === 0);
  });

  test(`${mode}: r0 halves, 64-bit arguments and instruction counts`, () => {
    const prog = loadProgram(assemble('mov %r0, %r1\nadd %r0, %r2\nexit'), { mode });
    const mem = new Memory();
    assert.equal(prog.run(mem, 2 ** 40, 5), 5);
    assert.equal(prog.r0Hi, 256);
    assert.equal(prog.r0(), 2n ** 40n + 5n);
    assert.equal(prog.insnCount, 3);
    assert.equal(prog.run(mem, -1, 0), 0xffffffff);
    assert.equal(prog.r0(), 2n ** 64n - 1n);
  });
}

test('Memory: helpers read and write by address with bounds checks', () => {
  const mem = new Memory();
  const a = mem.map(new Uint8Array(16), { name: 'a' });
  mem.store32(a.addr(0), 0xdeadbeef);
  mem.store64(a.addr(8), -1n);
  assert.equal(mem.load32(a.base), 0xdeadbeef);
  assert.equal(mem.load16(a.base + 2), 0xdead);
  assert.equal(mem.load8(a.base + 3), 0xde);
  assert.equal(mem.load64(a.base + 8), 2n ** 64n - 1n);
  assert.deepEqual([...mem.read(a.base, 4)], [0xef, 0xbe, 0xad, 0xde]);
  for (const bad of [a.base + 13, a.base - 1, 0, 2 ** 52, Number.NaN, 1.5]) {
    assert.throws(() => mem.load32(bad), (e: unknown) => e instanceof VmError && e.reason === 'out-of-bounds', String(bad));
  }
  assert.equal(mem.stack(0).base + 512, 2 ** 32 + 512);
  assert.throws(() => mem.map('x' as never), (e: unknown) => e instanceof VmError && e.reason === 'bad-argument');
});

test('programs beyond COMPILE_LIMIT slots run on the interpreter, with the same result', () => {
  const n = COMPILE_LIMIT + 2;
  const insns: Insn[] = [];
  for (let i = 0; i < n - 1; i++) insns.push({ opcode: 0x07, dst: 0, src: 0, off: 0, imm: 1 }); // add r0, 1
  insns.push({ opcode: 0x95, dst: 0, src: 0, off: 0, imm: 0 });
  const prog = loadProgram(encode(insns), { mode: 'compiled' });
  assert.equal(prog.mode, 'interpreter');
  assert.equal(prog.run(new Memory()), n - 1);
  assert.equal(loadProgram(assemble('exit'), { mode: 'compiled' }).mode, 'compiled');
});

test('loadProgram takes decoded slots as well as bytes, and re-validates them', () => {
  const bytes = assemble('lddw %r0, 0x1122334455667788\nadd %r0, 1\nexit');
  assert.equal(loadProgram(decode(bytes)).run(new Memory()), 0x55667789);
  const bad: Insn[] = [{ opcode: 0xb7, dst: 11, src: 0, off: 0, imm: 0 }, { opcode: 0x95, dst: 0, src: 0, off: 0, imm: 0 }];
  assert.throws(() => loadProgram(bad), (e: unknown) => e instanceof DecodeError && e.index === 0);
  const injected = [{ opcode: 0xb7, dst: 0, src: 0, off: 0, imm: '1); throw 1; (' }] as unknown as Insn[];
  assert.throws(() => loadProgram(injected), (e: unknown) => e instanceof DecodeError && e.index === 0);
  assert.throws(() => loadProgram([undefined] as unknown as Insn[]), (e: unknown) => e instanceof DecodeError);
  assert.throws(() => loadProgram('exit' as never), (e: unknown) => e instanceof VmError && e.reason === 'bad-argument');
});
