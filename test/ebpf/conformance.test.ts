/**
 * The assembler and disassembler against the bpf_conformance data files: the suite's asm must
 * assemble to its raw bytes, round-trip through the disassembler byte for byte, and every
 * negative file whose program is malformed must be refused with a typed error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assemble, disassemble, decode, AssemblerError, DecodeError, type AssemblerErrorKind,
} from '../../src/ebpf/index.js';
import {
  CONFORMANCE_NEGATIVE, CONFORMANCE_TESTS, countByGroup, loadConformanceFiles,
} from '../support/conformance.js';

const tests = loadConformanceFiles(CONFORMANCE_TESTS);
const negative = loadConformanceFiles(CONFORMANCE_NEGATIVE);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('the suite is there: 313 tests and 60 negative files, every test has a program and a result', (t) => {
  assert.equal(tests.length, 313);
  assert.equal(negative.length, 60);
  for (const f of tests) {
    assert.ok(f.asm !== undefined || f.raw !== undefined, `${f.name} has no program`);
    assert.ok(f.result !== undefined, `${f.name} has no result`);
    assert.notEqual(f.group, 'unknown', `${f.name}: program did not assemble`);
  }
  const groups = countByGroup(tests);
  t.diagnostic(`tests per group: ${JSON.stringify(groups)}`);
  // the default groups are all exercised
  for (const g of ['base32', 'base64', 'atomic32', 'atomic64', 'divmul32', 'divmul64', 'callx']) {
    assert.ok((groups[g] ?? 0) > 0, `no test in group ${g}`);
  }
});

test('asm assembles to the raw section byte for byte', (t) => {
  const both = tests.filter((f) => f.asm !== undefined && f.raw !== undefined);
  assert.ok(both.length >= 1);
  for (const f of both) assert.equal(hex(assemble(f.asm!)), hex(f.raw!), f.name);
  t.diagnostic(`${both.length} file(s) with both asm and raw`);
});

test('every asm program round-trips assemble -> disassemble -> assemble, with and without labels', (t) => {
  const perGroup: Record<string, number> = {};
  for (const f of tests.filter((x) => x.asm !== undefined)) {
    const bytes = assemble(f.asm!);
    assert.equal(bytes.length % 8, 0);
    decode(bytes); // the assembler only produces valid encodings
    for (const labels of [true, false]) {
      const text = disassemble(bytes, { labels });
      assert.equal(hex(assemble(text)), hex(bytes), `${f.name} (labels: ${labels})\n${text}`);
    }
    perGroup[f.group] = (perGroup[f.group] ?? 0) + 1;
  }
  t.diagnostic(`round-tripped per group: ${JSON.stringify(perGroup)}`);
  assert.equal(Object.values(perGroup).reduce((a, b) => a + b, 0), tests.filter((x) => x.asm).length);
});

test('raw-only programs decode and round-trip through the disassembler', () => {
  for (const f of [...tests, ...negative].filter((x) => x.raw !== undefined)) {
    let ok = true;
    try {
      decode(f.raw!);
    } catch (e) {
      assert.ok(e instanceof DecodeError, `${f.name}: ${String(e)}`);
      ok = false;
    }
    if (ok) assert.equal(hex(assemble(disassemble(f.raw!))), hex(f.raw!), f.name);
  }
});

/** What each malformed negative program must be refused for. */
const ASSEMBLER_NEGATIVES: Record<string, AssemblerErrorKind> = {
  'invalid_imm32_dec_range.data': 'range',
  'invalid_imm32_hex_range.data': 'range',
  'invalid_label.data': 'undefined-label',
  'invalid_lock.data': 'operand-count',
  'invalid_lock2.data': 'operand-count',
  'invalid_mnemonic.data': 'unknown-mnemonic',
  'invalid_offset.data': 'syntax',
  'invalid_offset_range.data': 'range',
  'invalid_operand_count.data': 'operand-count',
  'invalid_register.data': 'bad-register',
  // `-- Unknown directive` ends the asm section: nothing is left to assemble
  'invalid_unknown_directive.data': 'empty-program',
};
/** Negative files about execution, not encoding: left to the VM conformance run. */
const RUNTIME_NEGATIVES = new Set([
  'error.data', // `or %r0, %r10`: encodes fine; r0 is read uninitialised and r10 used in bitwise ALU (verifier-level)
  'incorrect_return_value_high_bits.data', // wrong expected result on purpose
  'empty.data', 'empty_instructions.data', // no program at all
]);

test('negative files: malformed programs are refused with a typed error naming line and column', (t) => {
  let asmRefused = 0, rawRefused = 0;
  for (const f of negative) {
    if (f.raw !== undefined) {
      assert.throws(() => decode(f.raw!), (e: unknown) => e instanceof DecodeError && e.index === 0, f.name);
      // the assembler cannot be talked into producing the same bytes either
      rawRefused++;
      continue;
    }
    const kind = ASSEMBLER_NEGATIVES[f.name];
    if (kind === undefined) {
      assert.ok(RUNTIME_NEGATIVES.has(f.name), `${f.name} is neither an assembler nor a runtime negative`);
      if (f.asm !== undefined && f.asm.trim() !== '') assemble(f.asm); // encodes fine; the VM refuses it
      continue;
    }
    assert.throws(() => assemble(f.asm ?? ''), (e: unknown) => {
      assert.ok(e instanceof AssemblerError, `${f.name}: ${String(e)}`);
      assert.equal(e.kind, kind, `${f.name}: ${e.message}`);
      assert.ok(e.line >= 1 && e.column >= 1);
      return true;
    });
    asmRefused++;
  }
  t.diagnostic(`refused: ${asmRefused} by the assembler, ${rawRefused} by decode`);
  assert.equal(asmRefused, Object.keys(ASSEMBLER_NEGATIVES).length);
  assert.equal(rawRefused, negative.filter((f) => f.raw !== undefined).length);
  assert.equal(asmRefused + rawRefused + RUNTIME_NEGATIVES.size, negative.length);
});

test('assembler errors point at the offending token', () => {
  const at = (src: string): [number, number, string] => {
    try {
      assemble(src);
    } catch (e) {
      assert.ok(e instanceof AssemblerError);
      return [e.line, e.column, e.kind];
    }
    assert.fail(`accepted: ${src}`);
  };
  assert.deepEqual(at('mov32 %r0, 2147483648\nexit'), [1, 12, 'range']);
  assert.deepEqual(at('exit\nor %r0, %r50'), [2, 9, 'bad-register']);
  assert.deepEqual(at('mov %r0, 0\nja NOT_A_LABEL\nexit'), [2, 4, 'undefined-label']);
  assert.deepEqual(at('ldxb %r0, [%r1+0x10000]\nexit'), [1, 15, 'range']);
  assert.deepEqual(at('  ldxq %r0, %r1'), [1, 3, 'unknown-mnemonic']);
  assert.deepEqual(at('l: exit\nl: exit'), [2, 1, 'duplicate-label']);
});
