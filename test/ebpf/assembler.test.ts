/**
 * Text assembler and disassembler details beyond the conformance files: the encodings the
 * suite relies on (callx, call local, gotol, atomics, pseudo ld_imm64), immediates at their
 * limits, and errors that name line, column and reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assemble, disassemble, decode, AssemblerError, DecodeError, helperId, helperName, BPF_FUNC,
  BPF_FUNC_MAX_ID, UnknownHelperError, isHelperName, formatAssemblerError, type AssemblerErrorKind,
} from '../../src/ebpf/index.js';

const words = (src: string): string[] =>
  Buffer.from(assemble(src)).toString('hex').match(/.{16}/g)!;

test('encodings: one instruction each, as 8-byte little-endian slots', () => {
  const cases: [string, string[]][] = [
    ['mov32 %r0, 0', ['b400000000000000']],
    ['add %r1, -3', ['07010000fdffffff']],
    ['lddw %r1, 0x100000000', ['1801000000000000', '0000000001000000']],
    ['ldxh %r0, [%r1+2]', ['6910020000000000']],
    ['stxdw [%r10-8], %r0', ['7b0af8ff00000000']],
    ['stw [%r10-4], 0x11223344', ['620afcff44332211']],
    ['lock add [%r10-8], %r1', ['db1af8ff00000000']],
    ['lock fetch add32 [%r10-4], %r1', ['c31afcff01000000']],
    ['lock xchg [%r10-8], %r1', ['db1af8ffe1000000']],
    ['lock cmpxchg [%r10-8], %r1', ['db1af8fff1000000']],
    ['call 5', ['8500000005000000']],
    // callx: BPF_JMP|BPF_CALL|BPF_X, target register in dst (bpf_conformance / LLVM encoding)
    ['call %r2', ['8d02000000000000']],
    ['call kfunc 9', ['8520000009000000']],
    ['call runtime 9', ['8520000009000000']],
    ['call helper 82', ['8500000052000000']],
    ['call sk_select_reuseport', ['8500000052000000']],
    ['ja32 +5', ['0600000005000000']],
    ['gotol -1', ['06000000ffffffff']],
    ['be16 %r3', ['dc03000010000000']],
    ['le64 %r3', ['d403000040000000']],
    ['bswap32 %r3', ['d703000020000000']],
    ['swap64 %r3', ['d703000040000000']],
    ['neg32 %r4', ['8404000000000000']],
    ['sdiv %r1, %r2', ['3f21010000000000']],
    ['smod32 %r1, 7', ['9401010007000000']],
    ['movsx832 %r0, %r1', ['bc10080000000000']],
    ['movsx1664 %r0, %r1', ['bf10100000000000']],
    ['ldxsh %r0, [%r1+2]', ['8910020000000000']],
    ['ldabsb 3', ['3000000003000000']],
    ['ldindh %r2, -1', ['48200000ffffffff']],
    ['lddw %r1, map_fd 3', ['1811000003000000', '0000000000000000']],
    ['lddw %r1, map_value 3 8', ['1821000003000000', '0000000008000000']],
    ['lddw %r1, map_idx 2', ['1851000002000000', '0000000000000000']],
    ['lddw %r1, map_idx_value 2 4', ['1861000002000000', '0000000004000000']],
    ['lddw %r1, btf_id 100', ['1831000064000000', '0000000000000000']],
    ['exit', ['9500000000000000']],
  ];
  for (const [src, expect] of cases) assert.deepEqual(words(src), expect, src);
});

test('call local and labels encode relative slot offsets, counting lddw as two slots', () => {
  const w = words(`
    call local f      # imm = 3: f is 3 slots past the next instruction
    lddw %r0, 1
    exit
  f: mov %r0, 2       # label and instruction on one line
    ja f
    exit`);
  assert.equal(w[0], '8510000003000000');
  assert.equal(w[5], '0500feff00000000'); // ja -2
});

test('`exit` names the first exit when no label has that name (bpf_conformance convention)', () => {
  assert.deepEqual(words('jeq %r1, 0, exit\nmov %r0, 1\nexit\nexit'), [
    '1501010000000000', 'b700000001000000', '9500000000000000', '9500000000000000',
  ]);
  // a real label named exit wins
  assert.equal(words('ja exit\nexit:\nexit\nexit')[0], '0500000000000000');
});

test('immediates: decimal is int32, hex may be the uint32 pattern, lddw takes 64 bits', () => {
  assert.equal(words('mov32 %r0, 2147483647')[0], 'b4000000ffffff7f');
  assert.equal(words('mov32 %r0, -2147483648')[0], 'b400000000000080');
  assert.equal(words('mov32 %r0, 0xffffffff')[0], 'b4000000ffffffff');
  assert.deepEqual(words('lddw %r0, 18446744073709551615'), ['18000000ffffffff', '00000000ffffffff']);
  assert.deepEqual(words('lddw %r0, -9223372036854775808'), ['1800000000000000', '0000000000000080']);
  assert.equal(words('ldxb %r0, [%r1-32768]')[0], '7110008000000000');
  assert.equal(words('ja +32767')[0], '0500ff7f00000000');
  for (const bad of [
    'mov %r0, 2147483648', 'mov %r0, -2147483649', 'mov %r0, 0x100000000', 'lddw %r0, 0x10000000000000000',
    'lddw %r0, -9223372036854775809', 'ldxb %r0, [%r1+32768]', 'ja +32768', 'ja -32769', 'stb [%r1], 4294967296',
  ]) {
    assert.throws(() => assemble(bad), (e: unknown) => e instanceof AssemblerError && e.kind === 'range', bad);
  }
});

test('comments, blank lines, CRLF and upper case mnemonics are accepted', () => {
  assert.deepEqual(words('# header\r\n\r\n  MOV %r0, 1 # one\r\n// c-style\r\nEXIT\r\n'), ['b700000001000000', '9500000000000000']);
});

test('map names resolve from the assembler options', () => {
  assert.deepEqual(Buffer.from(assemble('lddw %r1, map_fd socks\nexit', { maps: { socks: 4 } })).toString('hex').slice(0, 32),
    '18110000040000000000000000000000');
  assert.throws(() => assemble('lddw %r1, map_fd socks\nexit'), (e: unknown) =>
    e instanceof AssemblerError && e.kind === 'unresolved-map' && e.column === 18);
});

test('every error kind names line, column and reason', () => {
  const cases: [string, AssemblerErrorKind, number, number][] = [
    ['mov %r0, 1\nfoo %r0', 'unknown-mnemonic', 2, 1],
    ['mov %r0', 'operand-count', 1, 1],
    ['exit %r0', 'operand-count', 1, 1],
    ['jeq %r0, 1', 'operand-count', 1, 1],
    ['lock fetch', 'operand-count', 1, 1],
    ['lock add [%r10-8]', 'operand-count', 1, 1],
    ['lock nand [%r10-8], %r1', 'unknown-mnemonic', 1, 6],
    ['lock fetch xchg [%r10-8], %r1', 'syntax', 1, 6],
    ['mov %r11, 1', 'bad-register', 1, 5],
    ['mov %r1, %rx', 'bad-register', 1, 10],
    ['ldxw %r1, [%r16+4]', 'bad-register', 1, 12],
    ['stxw [%r1+4], 7', 'bad-register', 1, 15],
    ['mov r0, zero', 'syntax', 1, 9],
    ['mov %r0,, 1', 'syntax', 1, 9],
    ['ldxw %r1, [%r2+]', 'syntax', 1, 11],
    ['ja 1x', 'syntax', 1, 4],
    ['call nosuch_helper', 'unknown-helper', 1, 6],
    ['call local nowhere\nexit', 'undefined-label', 1, 12],
    ['a:\na:', 'duplicate-label', 2, 1],
    ['', 'empty-program', 1, 1],
    ['# only a comment\n', 'empty-program', 1, 1],
    ['lddw %r1, map_fd', 'operand-count', 1, 11],
    ['lddw %r1, 12 13', 'syntax', 1, 11],
    ['!', 'syntax', 1, 1],
    ['mov! %r0, 1', 'syntax', 1, 4],
  ];
  for (const [src, kind, line, column] of cases) {
    assert.throws(() => assemble(src), (e: unknown) => {
      assert.ok(e instanceof AssemblerError, `${src}: ${String(e)}`);
      assert.deepEqual([e.kind, e.line, e.column], [kind, line, column], `${JSON.stringify(src)}: ${e.message}`);
      assert.match(e.message, new RegExp(`^line ${line}, column ${column}: `));
      return true;
    });
  }
});

test('a label jump too far for 16 bits is refused; ja32 takes it', () => {
  const body = 'mov %r0, 0\n'.repeat(33000);
  assert.throws(() => assemble(`ja out\n${body}out:\nexit`), (e: unknown) => e instanceof AssemblerError && e.kind === 'range' && e.line === 1);
  assert.equal(words(`ja32 out\n${body}out:\nexit`)[0], '06000000e8800000');
});

test('disassembler prints labels for in-program targets and offsets otherwise', () => {
  const text = disassemble(assemble('jeq %r1, 0, +1\nja -1\nexit\ncall 82\nlddw %r2, func +1\nexit'));
  assert.equal(text, [
    'jeq %r1, 0, L2',
    'L1:',
    'ja L1',
    'L2:',
    'exit',
    'call 82 # sk_select_reuseport',
    'lddw %r2, func L6',
    'L6:',
    'exit',
    '',
  ].join('\n'));
  assert.equal(disassemble(assemble('ja -1\nexit'), { labels: false, helperComments: false }), 'ja -1\nexit\n');
  // a jump into the middle of an lddw keeps its offset
  assert.match(disassemble(assemble('ja +1\nlddw %r0, 5\nexit')), /^ja \+1$/m);
});

test('disassemble refuses invalid bytecode with a DecodeError', () => {
  assert.throws(() => disassemble(Uint8Array.of(0x95, 0, 0, 0, 0, 0, 0)), DecodeError);
  assert.throws(() => disassemble(Uint8Array.of(0xff, 0, 0, 0, 0, 0, 0, 0)), DecodeError);
});

test('helper ids follow ___BPF_FUNC_MAPPER', () => {
  const known: [string, number][] = [
    ['map_lookup_elem', 1], ['map_update_elem', 2], ['map_delete_elem', 3], ['ktime_get_ns', 5],
    ['trace_printk', 6], ['get_prandom_u32', 7], ['get_smp_processor_id', 8], ['tail_call', 12],
    ['skb_load_bytes', 26], ['get_socket_cookie', 46], ['skb_load_bytes_relative', 68],
    ['sk_select_reuseport', 82], ['ktime_get_coarse_ns', 160], ['cgrp_storage_delete', 211],
  ];
  for (const [name, id] of known) {
    assert.equal(helperId(name), id, name);
    assert.equal(helperId(`bpf_${name}`), id, name);
    assert.equal(helperName(id), name);
    assert.equal(BPF_FUNC[name as keyof typeof BPF_FUNC], id);
  }
  assert.equal(BPF_FUNC_MAX_ID, 212);
  assert.equal(Object.keys(BPF_FUNC).length, 211);
  assert.equal(new Set(Object.values(BPF_FUNC)).size, 211);
  assert.equal(helperName(0), undefined);
  assert.equal(helperName(212), undefined);
  assert.equal(isHelperName('unspec'), false);
  for (const bad of ['unspec', 'nope', '', 0, 212, -1, 1.5]) {
    assert.throws(() => helperId(bad as string), UnknownHelperError, String(bad));
  }
});

test('decode of every assembled helper call names it back', () => {
  for (let id = 1; id < BPF_FUNC_MAX_ID; id++) {
    const b = assemble(`call ${helperName(id)}\nexit`);
    assert.equal(decode(b)[0]!.imm, id);
    assert.equal(disassemble(b).split('\n')[0], `call ${id} # ${helperName(id)}`);
  }
});

test('formatAssemblerError shows the line with a caret under the column', () => {
  const src = 'mov %r0, 0\n\tmov32 %r0, 2147483648\nexit';
  try {
    assemble(src);
    assert.fail('accepted');
  } catch (e) {
    assert.ok(e instanceof AssemblerError);
    assert.equal(formatAssemblerError(e, src),
      'line 2, column 13: immediate 2147483648 is out of range for 32 bits (-2147483648..2147483647)\n' +
      '  \tmov32 %r0, 2147483648\n' +
      '  \t           ^');
  }
});
