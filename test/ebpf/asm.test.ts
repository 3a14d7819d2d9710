/**
 * The program builder: it must produce exactly the bytes the equivalent assembly text produces,
 * resolve labels, maps and helpers at link time, and refuse bad programs with a typed LinkError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  program, assemble, assembleInsns, decode, disassemble, LinkError, EbpfError, BPF_FUNC, opcodes as op,
  R0, R1, R2, R3, R4, R5, R6, R10, FP, reg,
} from '../../src/ebpf/index.js';
import { SK_PASS, SK_DROP } from '../../src/kernel/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The SK_REUSEPORT selection program of the docs: hash % 4 into a REUSEPORT_SOCKARRAY. */
const selectByHash = () =>
  program()
    .mov(R6, R1)
    .ldxw(R2, R6, 32) // ctx->hash
    .mod32(R2, 4)
    .stxw(R10, -4, R2)
    .mov(R1, R6)
    .ldMapFd(R2, 'sockets')
    .mov(R3, R10).add(R3, -4)
    .mov(R4, 0)
    .call('sk_select_reuseport')
    .jeq(R0, 0, 'selected')
    .mov(R0, SK_DROP)
    .exit()
    .label('selected')
    .mov(R0, SK_PASS)
    .exit();

test('an SK_REUSEPORT select program links to the bytes its assembly spells', () => {
  const bytes = selectByHash().link({ maps: { sockets: 7 } });
  const text = `
    mov %r6, %r1
    ldxw %r2, [%r6+32]
    mod32 %r2, 4
    stxw [%r10-4], %r2
    mov %r1, %r6
    lddw %r2, map_fd 7
    mov %r3, %r10
    add %r3, -4
    mov %r4, 0
    call sk_select_reuseport
    jeq %r0, 0, selected
    mov %r0, 0
    exit
  selected:
    mov %r0, 1
    exit`;
  assert.equal(hex(bytes), hex(assemble(text)));
  // ld_imm64 with src_reg BPF_PSEUDO_MAP_FD carrying the fd, then a zero second half
  const insns = decode(bytes);
  assert.equal(insns[5]!.opcode, 0x18);
  assert.equal(insns[5]!.src, op.BPF_PSEUDO_MAP_FD);
  assert.equal(insns[5]!.imm, 7);
  assert.equal(insns[6]!.lddwHi, true);
  assert.equal(insns[10]!.imm, BPF_FUNC.sk_select_reuseport);
  assert.equal(insns[11]!.off, 2); // jeq over "mov r0, SK_DROP; exit"
});

test('the same program links again with other map fds; map objects with an fd are accepted', () => {
  const p = selectByHash();
  const a = decode(p.link({ maps: { sockets: 3 } }));
  const b = decode(p.link({ maps: new Map([['sockets', { fd: 12 }]]) }));
  assert.equal(a[5]!.imm, 3);
  assert.equal(b[5]!.imm, 12);
});

test('link refuses an unresolved map, naming it and the instruction', () => {
  const p = selectByHash();
  assert.throws(() => p.link(), (e: unknown) =>
    e instanceof LinkError && e.kind === 'unresolved-map' && e.index === 5 && /'sockets'/.test(e.message));
  assert.throws(() => p.link({ maps: { other: 3 } }), { name: 'LinkError', message: /map 'sockets'/ });
  assert.throws(() => p.link({ maps: { sockets: -1 } }), (e: unknown) => e instanceof LinkError && e.kind === 'unresolved-map');
  // an inherited property is not a map
  assert.throws(() => p.link({ maps: Object.create({ sockets: 3 }) }), (e: unknown) => e instanceof LinkError);
});

test('link refuses an undefined label', () => {
  const p = program().mov(R0, 0).jeq(R1, 0, 'nowhere').exit();
  assert.throws(() => p.link(), (e: unknown) =>
    e instanceof LinkError && e.kind === 'undefined-label' && e.index === 1 && /'nowhere'/.test(e.message));
  assert.throws(() => program().callLocal('f').exit().link(), { name: 'LinkError', message: /undefined label 'f'/ });
});

test('duplicate labels are refused where they are defined', () => {
  const p = program().label('a').mov(R0, 0);
  assert.throws(() => p.label('a'), (e: unknown) => e instanceof LinkError && e.kind === 'duplicate-label');
});

test('a jump that leaves the program or does not fit 16 bits is refused; ja32 reaches it', () => {
  // label after the last instruction: the jump would leave the program
  assert.throws(() => program().ja('end').exit().label('end').link(),
    (e: unknown) => e instanceof LinkError && e.kind === 'jump-out-of-range' && e.index === 0);
  // numeric offsets are checked too (C-macro style)
  assert.throws(() => program().ja(5).exit().link(), (e: unknown) => e instanceof LinkError && e.kind === 'jump-out-of-range');
  assert.throws(() => program().ja(-2).exit().link(), (e: unknown) => e instanceof LinkError && e.kind === 'jump-out-of-range');
  // into the middle of an lddw
  assert.throws(() => program().ja(1).lddw(R0, 1n).exit().link(), { message: /middle of the lddw/ });

  const far = (useJa32: boolean) => {
    const p = program();
    if (useJa32) p.ja32('out'); else p.ja('out');
    for (let i = 0; i < 40000; i++) p.mov(R0, i);
    return p.label('out').exit();
  };
  assert.throws(() => far(false).link(), (e: unknown) =>
    e instanceof LinkError && e.kind === 'jump-out-of-range' && /16-bit/.test(e.message));
  const ok = decode(far(true).link());
  assert.equal(ok[0]!.opcode, op.BPF_JMP32 | op.BPF_JA);
  assert.equal(ok[0]!.imm, 40000);
});

test('labels work backwards, forwards and for bpf-to-bpf calls and ld_imm64 func', () => {
  const bytes = program()
    .mov(R1, 3)
    .label('loop')
    .sub(R1, 1)
    .jne(R1, 0, 'loop')
    .callLocal('sub')
    .ldFunc(R2, 'sub')
    .exit()
    .label('sub')
    .mov(R0, 7)
    .exit()
    .link();
  const i = decode(bytes);
  assert.equal(i[2]!.off, -2);
  assert.equal(i[3]!.src, op.BPF_PSEUDO_CALL);
  assert.equal(i[3]!.imm, 3); // 3 -> 7
  assert.equal(i[4]!.src, op.BPF_PSEUDO_FUNC);
  assert.equal(i[4]!.imm, 2); // 4 -> 7 (the lddw takes slots 4-5)
  assert.equal(hex(assemble(disassemble(bytes))), hex(bytes));
});

test('every builder form encodes like its assembly', () => {
  const p = program()
    .add32(R1, R2).sub(R1, -1).mul32(R1, 3).div(R1, R2).sdiv32(R1, -3).mod(R1, 5).smod(R1, R2)
    .or(R1, 0xff00).and32(R1, 0xffffffff).xor(R1, R3).lsh(R1, 3).rsh32(R1, R2).arsh(R1, 63).mov32(R1, -1)
    .movsx(R1, R2, 32).movsx32(R1, R2, 16).neg(R1).neg32(R2)
    .be16(R1).be32(R1).be64(R1).le16(R1).le32(R1).le64(R1).bswap16(R1).bswap32(R1).bswap64(R1)
    .lddw(R1, 0x1122334455667788n).lddw(R2, -1).ldMapValue(R3, 9, 16).ldImm64Raw(R4, 3, 77, 0)
    .ldxb(R0, R1).ldxh(R0, R1, 2).ldxw(R0, R1, -4).ldxdw(R0, FP, -8).ldxsb(R0, R1).ldxsh(R0, R1, 2).ldxsw(R0, R1, 4)
    .stb(FP, -1, 0x7f).sth(FP, -2, 1).stw(FP, -4, -1).stdw(FP, -8, 5)
    .stxb(FP, -1, R1).stxh(FP, -2, R1).stxw(FP, -4, R1).stxdw(FP, -8, R1)
    .lockAdd(FP, -8, R1).lockFetchAnd32(FP, -4, R2).lockXchg(FP, -8, R3).lockCmpxchg32(FP, -4, R4).lockFetchXor(FP, -8, R5)
    .ldabs('h', 12).ldind('w', R1, 4)
    .jeq(R1, 0, 1).jne32(R1, R2, 0).jset(R1, 0x80000000, 0).jsle32(R1, -5, 0).ja(0).ja32(0)
    .call(5).call('bpf_ktime_get_coarse_ns').callx(R2).callKfunc(1234)
    .exit();
  const text = `
    add32 %r1, %r2
    sub %r1, -1
    mul32 %r1, 3
    div %r1, %r2
    sdiv32 %r1, -3
    mod %r1, 5
    smod %r1, %r2
    or %r1, 0xff00
    and32 %r1, 0xffffffff
    xor %r1, %r3
    lsh %r1, 3
    rsh32 %r1, %r2
    arsh %r1, 63
    mov32 %r1, -1
    movsx3264 %r1, %r2
    movsx1632 %r1, %r2
    neg %r1
    neg32 %r2
    be16 %r1
    be32 %r1
    be64 %r1
    le16 %r1
    le32 %r1
    le64 %r1
    bswap16 %r1
    bswap32 %r1
    bswap64 %r1
    lddw %r1, 0x1122334455667788
    lddw %r2, -1
    lddw %r3, map_value 9 16
    lddw %r4, btf_id 77
    ldxb %r0, [%r1]
    ldxh %r0, [%r1+2]
    ldxw %r0, [%r1-4]
    ldxdw %r0, [%r10-8]
    ldxsb %r0, [%r1]
    ldxsh %r0, [%r1+2]
    ldxsw %r0, [%r1+4]
    stb [%r10-1], 0x7f
    sth [%r10-2], 1
    stw [%r10-4], -1
    stdw [%r10-8], 5
    stxb [%r10-1], %r1
    stxh [%r10-2], %r1
    stxw [%r10-4], %r1
    stxdw [%r10-8], %r1
    lock add [%r10-8], %r1
    lock fetch and32 [%r10-4], %r2
    lock xchg [%r10-8], %r3
    lock cmpxchg32 [%r10-4], %r4
    lock fetch xor [%r10-8], %r5
    ldabsh 12
    ldindw %r1, 4
    jeq %r1, 0, +1
    jne32 %r1, %r2, +0
    jset %r1, 0x80000000, +0
    jsle32 %r1, -5, +0
    ja +0
    ja32 +0
    call 5
    call 160
    call %r2
    call kfunc 1234
    exit`;
  assert.equal(hex(p.link()), hex(assemble(text)));
});

test('operand mistakes are refused at the call with a typed error', () => {
  const bad: [string, () => unknown, string][] = [
    ['immediate beyond 32 bits', () => program().mov(R0, 2 ** 32), 'range'],
    ['fractional immediate', () => program().add(R0, 1.5), 'range'],
    ['offset beyond 16 bits', () => program().ldxw(R0, R1, 40000), 'range'],
    ['store offset beyond 16 bits', () => program().stw(R10, -40000, 0), 'range'],
    ['number where a register belongs', () => program().ldxw(R0, 1 as never, 0), 'bad-register'],
    ['no register r11', () => reg(11), 'bad-register'],
    ['unknown helper', () => program().call('sk_select_reuseprot' as never), 'unknown-helper'],
    ['lddw beyond 64 bits', () => program().lddw(R0, 1n << 64n), 'range'],
    ['unsafe lddw number', () => program().lddw(R0, 2 ** 60), 'range'],
    ['movsx width', () => program().movsx(R0, R1, 64 as never), 'bad-operand'],
    ['memory size', () => program().ldx('q' as never, R0, R1), 'bad-operand'],
    ['atomic size', () => program().atomic('add', 'h' as never, R10, -8, R1), 'bad-operand'],
    ['empty label', () => program().label(''), 'bad-operand'],
    ['map fd', () => program().ldMapFd(R1, -3), 'bad-operand'],
  ];
  for (const [what, fn, kind] of bad) {
    assert.throws(fn, (e: unknown) => e instanceof LinkError && e instanceof EbpfError && e.kind === kind, what);
  }
  assert.throws(() => program().link(), (e: unknown) => e instanceof LinkError && e.kind === 'empty-program');
});

test('raw instructions are validated at link', () => {
  const p = program().raw({ opcode: 0x95, dst: 1, src: 0, off: 0, imm: 0 });
  assert.throws(() => p.link(), (e: unknown) => e instanceof LinkError && e.index === 0 && /exit/.test(e.message));
  assert.throws(() => program().raw({ opcode: 0x18, dst: 0, src: 0, off: 0, imm: 0 }).exit().link(),
    { message: /missing its second half/ });
});

test('registers print as assembly and are distinct from immediates', () => {
  assert.equal(String(R5), '%r5');
  assert.equal(reg(10), FP);
  const i = decode(program().mov(R1, R2).mov(R1, 2).exit().link());
  assert.equal(i[0]!.opcode, 0xbf);
  assert.equal(i[1]!.opcode, 0xb7);
});

test('toAsm lists the program with symbolic labels and maps, and assembles back to link()', () => {
  const p = selectByHash();
  const text = p.toAsm();
  assert.match(text, /^lddw %r2, map_fd sockets$/m);
  assert.match(text, /^jeq %r0, 0, selected$/m);
  assert.match(text, /^selected:$/m);
  assert.match(text, /^call 82 # sk_select_reuseport$/m);
  assert.equal(hex(assemble(text, { maps: { sockets: 9 } })), hex(p.link({ maps: { sockets: 9 } })));
});

test('linked and assembled slots look exactly like decoded ones (imm64 on lddw)', () => {
  const p = program().lddw(R1, 0xfedcba9876543210n).ldMapFd(R2, 'm').exit();
  const bytes = p.link({ maps: { m: 5 } });
  assert.deepEqual(p.linkInsns({ maps: { m: 5 } }), decode(bytes));
  assert.deepEqual(assembleInsns(disassemble(bytes)), decode(bytes));
});
