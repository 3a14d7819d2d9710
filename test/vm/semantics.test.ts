/**
 * RFC 9669 corner cases named in the issue, checked on both engines with exact 64-bit results.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/ebpf/assembler.js';
import { runProgram } from '../../src/vm/index.js';

const MODES = ['interpreter', 'compiled'] as const;
const U64 = (v: bigint): bigint => BigInt.asUintN(64, v);

const cases: [string, string, bigint][] = [
  ['add wraps at 2^64', 'lddw %r0, 0xffffffffffffffff\nadd %r0, 2\nexit', 1n],
  ['32-bit ops zero-extend', 'lddw %r0, 0xffffffffffffffff\nadd32 %r0, 1\nexit', 0n],
  ['mov32 zero-extends a negative immediate', 'mov32 %r0, -1\nexit', 0xffffffffn],
  ['mov64 sign-extends a negative immediate', 'mov %r0, -1\nexit', U64(-1n)],
  ['64-bit shift counts are masked with 63', 'mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1\nexit', 2n],
  ['32-bit shift counts are masked with 31', 'mov %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1\nexit', 2n],
  ['arsh keeps the sign', 'mov %r0, -16\narsh %r0, 2\nexit', U64(-4n)],
  ['division by zero gives 0', 'mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1\nexit', 0n],
  ['modulo by zero leaves dst', 'lddw %r0, 0x1234567887654321\nmov %r1, 0\nmod %r0, %r1\nexit', 0x1234567887654321n],
  ['32-bit modulo by zero truncates dst', 'lddw %r0, 0x1234567887654321\nmov %r1, 0\nmod32 %r0, %r1\nexit', 0x87654321n],
  ['sdiv INT64_MIN / -1 wraps to INT64_MIN', 'lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit', 0x8000000000000000n],
  ['sdiv32 INT32_MIN / -1 wraps to INT32_MIN', 'mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit', 0x80000000n],
  ['smod INT64_MIN % -1 is 0', 'lddw %r0, 0x8000000000000000\nsmod %r0, -1\nexit', 0n],
  ['smod result takes the dividend sign', 'mov %r0, -7\nsmod %r0, 3\nexit', U64(-1n)],
  ['sdiv truncates toward zero', 'mov %r0, -7\nsdiv %r0, 2\nexit', U64(-3n)],
  ['unsigned div with a sign-extended immediate', 'mov %r0, 10\ndiv %r0, -1\nexit', 0n],
  ['64-bit multiply keeps the low 64 bits', 'lddw %r0, 0xffffffffffffffff\nlddw %r1, 0xffffffffffffffff\nmul %r0, %r1\nexit', 1n],
  ['large 64-bit division', 'lddw %r0, 0xfedcba9876543210\nlddw %r1, 0x100000000\ndiv %r0, %r1\nexit', 0xfedcba98n],
  ['movsx8 to 64', 'mov %r1, 0x80\nmovsx864 %r0, %r1\nexit', U64(-128n)],
  ['movsx16 to 32 zero-extends above 32', 'mov %r1, 0x8000\nmovsx1632 %r0, %r1\nexit', 0xffff8000n],
  ['bswap64', 'lddw %r0, 0x0102030405060708\nbswap64 %r0\nexit', 0x0807060504030201n],
  ['be16 truncates then swaps', 'lddw %r0, 0x0102030405060708\nbe16 %r0\nexit', 0x0807n],
  ['le32 truncates', 'lddw %r0, 0x0102030405060708\nle32 %r0\nexit', 0x05060708n],
  ['ldxsb sign-extends', 'stb [%r10-1], 0xff\nldxsb %r0, [%r10-1]\nexit', U64(-1n)],
  ['stdw sign-extends its immediate', 'stdw [%r10-8], -2\nldxdw %r0, [%r10-8]\nexit', U64(-2n)],
  ['jmp32 compares low halves only', 'lddw %r0, 0x100000005\njeq32 %r0, 5, +1\nmov %r0, 0\nexit', 0x100000005n],
  ['jsgt is signed, jgt unsigned', 'mov %r0, 0\nmov %r1, -1\njsgt %r1, 0, +1\nadd %r0, 1\njgt %r1, 0, +1\nadd %r0, 2\nexit', 1n],
  ['gotol (ja32) uses imm', 'mov %r0, 1\nja32 +1\nmov %r0, 2\nexit', 1n],
  ['lock fetch add returns the old value', 'stdw [%r10-8], 40\nmov %r1, 2\nlock fetch add [%r10-8], %r1\nldxdw %r0, [%r10-8]\nadd %r0, %r1\nexit', 82n],
  ['lock cmpxchg32 compares the low half of r0', 'stw [%r10-4], 7\nlddw %r0, 0x500000007\nmov %r1, 9\nlock cmpxchg32 [%r10-4], %r1\nldxw %r1, [%r10-4]\nlsh %r0, 8\nor %r0, %r1\nexit', 0x709n],
  ['lock xchg32 zero-extends', 'stw [%r10-4], -1\nmov %r1, 3\nlock xchg32 [%r10-4], %r1\nmov %r0, %r1\nexit', 0xffffffffn],
  ['call local preserves r6-r9 and passes r1-r5', 'mov %r6, 6\nmov %r1, 10\ncall local f\nadd %r0, %r6\nexit\nf:\nmov %r6, 0\nmov %r0, %r1\nexit', 16n],
  ['helper 5 returns its first argument', 'lddw %r1, 0xdeadbeefcafe\ncall 5\nexit', 0xdeadbeefcafen],
  ['callx calls the helper id held in the register', 'mov %r1, 42\nmov %r3, 5\ncall %r3\nexit', 42n],
];

for (const mode of MODES) {
  test(`${mode}: RFC 9669 corner cases`, () => {
    for (const [name, src, want] of cases) {
      assert.equal(runProgram(assemble(src), { mode }), want, name);
    }
  });
}
