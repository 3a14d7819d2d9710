/**
 * The bpf_conformance suite on both engines: every file of tests/ must give its `-- result`,
 * every file of negative/ must be refused (assembler, decoder or VM, with a typed error) or
 * give a result different from its deliberately wrong `-- result`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/ebpf/assembler.js';
import { AssemblerError, EbpfError } from '../../src/ebpf/errors.js';
import { DecodeError } from '../../src/ebpf/insn.js';
import { runProgram, VmError } from '../../src/vm/index.js';
import { CONFORMANCE_NEGATIVE, CONFORMANCE_TESTS, loadConformanceFiles, type ConformanceFile } from '../support/conformance.js';

const MODES = ['interpreter', 'compiled'] as const;
const GROUPS = ['base32', 'base64', 'atomic32', 'atomic64', 'divmul32', 'divmul64', 'callx', 'packet'];

function bytecodeOf(f: ConformanceFile): Uint8Array {
  if (f.raw !== undefined) return f.raw;
  if (f.asm !== undefined) return assemble(f.asm);
  return new Uint8Array(0); // no program at all: the VM must refuse it ('empty-program')
}

const positives = loadConformanceFiles(CONFORMANCE_TESTS);
const negatives = loadConformanceFiles(CONFORMANCE_NEGATIVE);

for (const mode of MODES) {
  test(`conformance tests/ (${positives.length} files) on the ${mode}`, (t) => {
    assert.equal(positives.length, 313);
    const passed: Record<string, number> = {};
    const total: Record<string, number> = {};
    const failures: string[] = [];
    for (const f of positives) {
      total[f.group] = (total[f.group] ?? 0) + 1;
      try {
        assert.notEqual(f.result, undefined, `${f.name} has no -- result`);
        const r0 = runProgram(bytecodeOf(f), { mem: f.mem, mode });
        if (r0 === f.result) passed[f.group] = (passed[f.group] ?? 0) + 1;
        else failures.push(`${f.name}: r0 0x${r0.toString(16)}, expected 0x${f.result!.toString(16)}`);
      } catch (e) {
        failures.push(`${f.name}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
    }
    for (const g of [...GROUPS, ...Object.keys(total).filter((k) => !GROUPS.includes(k))]) {
      t.diagnostic(`${mode} ${g}: ${passed[g] ?? 0}/${total[g] ?? 0}`);
    }
    assert.deepEqual(failures, []);
  });

  test(`conformance negative/ (${negatives.length} files) refused on the ${mode}`, (t) => {
    assert.equal(negatives.length, 60);
    const accepted: string[] = [];
    const how: Record<string, number> = {};
    for (const f of negatives) {
      let outcome: string;
      try {
        const r0 = runProgram(bytecodeOf(f), { mem: f.mem, mode });
        outcome = f.result !== undefined && r0 !== f.result ? 'result mismatch' : 'ACCEPTED';
      } catch (e) {
        if (e instanceof AssemblerError) outcome = 'assembler';
        else if (e instanceof DecodeError) outcome = 'decoder';
        else if (e instanceof VmError) outcome = `vm ${e.reason}`;
        else if (e instanceof EbpfError) outcome = e.name;
        else outcome = `untyped ${String(e)}`;
      }
      how[outcome] = (how[outcome] ?? 0) + 1;
      if (outcome === 'ACCEPTED' || outcome.startsWith('untyped')) accepted.push(`${f.name}: ${outcome}`);
    }
    t.diagnostic(`${mode} negative: ${negatives.length - accepted.length}/${negatives.length} refused (${Object.entries(how).map(([k, v]) => `${k} ${v}`).join(', ')})`);
    assert.deepEqual(accepted, []);
  });
}
