/**
 * The fast path: translate a verified program into one JavaScript function (new Function).
 * Each 64-bit register is a pair of int32 locals (lN = low half, hN = high half) so V8 keeps
 * them unboxed; 32-bit operations are single int32 ops, 64-bit ones work on the pairs, and only
 * 64-bit division with operands >= 2^32 (and other rare cases) goes through BigInt (jit_runtime).
 * Control flow: basic blocks become `case` labels of a `switch (pc)` inside `for (;;)`;
 * straight-line code falls through, branches set pc and `continue`. The instruction budget is
 * charged once per block.
 */
import type { Insn } from '../ebpf/insn.js';
import * as op from '../ebpf/opcodes.js';
import { VmError } from './errors.js';
import type { HelperCallImpl } from './helper_call.js';
import { kit, Z } from './jit_runtime.js';
import type { Memory, Region } from './memory.js';
import { isJmp, isLegacyPacketLoad, isLocalCall, jumpTarget, lookupHelper, type Analyzed } from './program.js';
import { FIRST_STACK_ID, MAX_FRAMES, STACK_SIZE, type Helper, type HelperTable } from './types.js';

/** The compiled entry: returns r0's low half, leaves r0's high half and the count in S. */
export type CompiledFn = (T: Region[], M: Memory, l1: number, h1: number, l2: number, h2: number,
  l3: number, h3: number, l4: number, h4: number, l5: number, h5: number) => number;

export interface CompiledState { h0: number; n: number }

const SIZE: Record<number, number> = { [op.BPF_B]: 1, [op.BPF_H]: 2, [op.BPF_W]: 4, [op.BPF_DW]: 8 };
const u32 = (v: number): number => v >>> 0;

function bswap32(x: string): string {
  return `(((${x} & 0xff) << 24) | ((${x} & 0xff00) << 8) | ((${x} >>> 8) & 0xff00) | (${x} >>> 24))`;
}

/** Source operand: register halves, or immediate (hi = sign extension for 64-bit use). */
interface Src { l: string; h: string; k: boolean; kl: number; kh: number }

function source(insn: Insn): Src {
  if (op.srcBit(insn.opcode) === op.BPF_X) return { l: `l${insn.src}`, h: `h${insn.src}`, k: false, kl: 0, kh: 0 };
  const kh = insn.imm < 0 ? -1 : 0;
  return { l: `(${insn.imm})`, h: `(${kh})`, k: true, kl: insn.imm, kh };
}

function alu32(insn: Insn, D: string, H: string, s: Src): string {
  const code = op.aluOp(insn.opcode);
  const S = s.l;
  const z = `${H} = 0;`;
  switch (code) {
    case op.BPF_ADD: return `${D} = (${D} + ${S}) | 0; ${z}`;
    case op.BPF_SUB: return `${D} = (${D} - ${S}) | 0; ${z}`;
    case op.BPF_MUL: return `${D} = Math.imul(${D}, ${S}); ${z}`;
    case op.BPF_OR: return `${D} = ${D} | ${S}; ${z}`;
    case op.BPF_AND: return `${D} = ${D} & ${S}; ${z}`;
    case op.BPF_XOR: return `${D} = ${D} ^ ${S}; ${z}`;
    case op.BPF_LSH: return `${D} = ${D} << ${S}; ${z}`; // JS masks shift counts with 31, as eBPF does
    case op.BPF_RSH: return `${D} = (${D} >>> ${S}) | 0; ${z}`;
    case op.BPF_ARSH: return `${D} = ${D} >> ${S}; ${z}`;
    case op.BPF_NEG: return `${D} = (-${D}) | 0; ${z}`;
    case op.BPF_MOV:
      if (insn.off === 8) return `${D} = (${S} << 24) >> 24; ${z}`;
      if (insn.off === 16) return `${D} = (${S} << 16) >> 16; ${z}`;
      return `${D} = ${S}; ${z}`;
    case op.BPF_DIV:
      if (insn.off === 1) return `${D} = ${S} === 0 ? 0 : (${D} / ${S}) | 0; ${z}`;
      return `${D} = ${S} === 0 ? 0 : ((${D} >>> 0) / (${S} >>> 0)) | 0; ${z}`;
    case op.BPF_MOD:
      if (insn.off === 1) return `if (${S} !== 0) ${D} = (${D} % ${S}) | 0; ${z}`;
      return `if (${S} !== 0) ${D} = ((${D} >>> 0) % (${S} >>> 0)) | 0; ${z}`;
    case op.BPF_END: {
      if (op.srcBit(insn.opcode) === op.BPF_TO_LE) {
        if (insn.imm === 16) return `${D} = ${D} & 0xffff; ${z}`;
        if (insn.imm === 32) return z;
        return '';
      }
      return bswapCode(insn.imm, D, H);
    }
  }
  throw new VmError('internal-error', -1, `alu32 op ${code}`);
}

function bswapCode(bits: number, D: string, H: string): string {
  if (bits === 16) return `${D} = ((${D} & 0xff) << 8) | ((${D} >>> 8) & 0xff); ${H} = 0;`;
  if (bits === 32) return `${D} = ${bswap32(D)}; ${H} = 0;`;
  return `u = ${bswap32(D)}; ${D} = ${bswap32(H)}; ${H} = u;`;
}

function shift64(kind: number, D: string, H: string, s: Src): string {
  const gen = (c: number | string, isConst: boolean): string => {
    const lt = isConst ? (c as number) < 32 : undefined;
    const small = kind === op.BPF_LSH ? `${H} = (${H} << ${c}) | (${D} >>> (32 - ${c})); ${D} = ${D} << ${c};`
      : kind === op.BPF_RSH ? `${D} = (${D} >>> ${c}) | (${H} << (32 - ${c})); ${H} = (${H} >>> ${c}) | 0;`
      : `${D} = (${D} >>> ${c}) | (${H} << (32 - ${c})); ${H} = ${H} >> ${c};`;
    const big = kind === op.BPF_LSH ? `${H} = ${D} << (${c} - 32); ${D} = 0;`
      : kind === op.BPF_RSH ? `${D} = (${H} >>> (${c} - 32)) | 0; ${H} = 0;`
      : `${D} = ${H} >> (${c} - 32); ${H} = ${H} >> 31;`;
    if (isConst) return lt ? small : big;
    return `if (t !== 0) { if (t < 32) { ${small} } else { ${big} } }`;
  };
  if (s.k) {
    const c = s.kl & 63;
    return c === 0 ? '' : gen(c, true);
  }
  return `t = ${s.l} & 63; ${gen('t', false)}`;
}

function alu64(insn: Insn, D: string, H: string, s: Src): string {
  const code = op.aluOp(insn.opcode);
  const SL = s.l, SH = s.h;
  switch (code) {
    case op.BPF_MOV:
      if (insn.off === 8) return `${D} = (${SL} << 24) >> 24; ${H} = ${D} >> 31;`;
      if (insn.off === 16) return `${D} = (${SL} << 16) >> 16; ${H} = ${D} >> 31;`;
      if (insn.off === 32) return `${D} = ${SL}; ${H} = ${D} >> 31;`;
      return SL === D ? '' : `${D} = ${SL}; ${H} = ${SH};`;
    case op.BPF_ADD:
      return `u = (${D} + ${SL}) | 0; ${H} = (${H} + ${SH} + ((u >>> 0) < (${D} >>> 0) ? 1 : 0)) | 0; ${D} = u;`;
    case op.BPF_SUB:
      return `u = (${D} - ${SL}) | 0; ${H} = (${H} - ${SH} - ((${D} >>> 0) < (${SL} >>> 0) ? 1 : 0)) | 0; ${D} = u;`;
    case op.BPF_MUL:
      return `t = (${D} >>> 0) * (${SL} >>> 0); u = (Math.imul(${H}, ${SL}) + Math.imul(${D}, ${SH}) + (t < 9007199254740992 ? (t / 4294967296) >>> 0 : K.mulhi(${D}, ${SL}))) | 0; ${D} = Math.imul(${D}, ${SL}); ${H} = u;`;
    case op.BPF_OR: return `${D} = ${D} | ${SL}; ${H} = ${H} | ${SH};`;
    case op.BPF_AND: return `${D} = ${D} & ${SL}; ${H} = ${H} & ${SH};`;
    case op.BPF_XOR: return `${D} = ${D} ^ ${SL}; ${H} = ${H} ^ ${SH};`;
    case op.BPF_LSH: case op.BPF_RSH: case op.BPF_ARSH: return shift64(code, D, H, s);
    case op.BPF_NEG: return `u = (-${D}) | 0; ${H} = (~${H} + (${D} === 0 ? 1 : 0)) | 0; ${D} = u;`;
    case op.BPF_END: return bswapCode(insn.imm, D, H);
    case op.BPF_DIV:
    case op.BPF_MOD: {
      const signed = insn.off === 1;
      const isDiv = code === op.BPF_DIV;
      const kind = (isDiv ? 0 : 2) + (signed ? 1 : 0);
      const slow = `${D} = K.div64(${D}, ${H}, ${SL}, ${SH}, ${kind}); ${H} = Z[0];`;
      if (s.k && s.kl === 0) return isDiv ? `${D} = 0; ${H} = 0;` : '';
      if (!signed) {
        const fastCond = s.k ? (s.kh === 0 ? `${H} === 0` : 'false') : `(${H} | ${SH}) === 0`;
        const fast = isDiv
          ? `${D} = ${SL} === 0 ? 0 : ((${D} >>> 0) / (${SL} >>> 0)) | 0;`
          : `if (${SL} !== 0) ${D} = ((${D} >>> 0) % (${SL} >>> 0)) | 0;`;
        return `if (${fastCond}) { ${fast} } else { ${slow} }`;
      }
      // signed: fast when both operands are sign-extended int32 values
      const zero = s.k ? 'false' : `(${SL} | ${SH}) === 0`;
      const fits = s.k ? `${H} === (${D} >> 31)` : `${H} === (${D} >> 31) && ${SH} === (${SL} >> 31)`;
      const onZero = isDiv ? `${D} = 0; ${H} = 0;` : '';
      const fast = isDiv
        ? `t = Math.trunc(${D} / ${SL}); ${D} = t | 0; ${H} = t < 0 ? -1 : 0;`
        : `t = ${D} % ${SL}; ${D} = t | 0; ${H} = t < 0 ? -1 : 0;`;
      return `if (${zero}) { ${onZero} } else if (${fits}) { ${fast} } else { ${slow} }`;
    }
  }
  throw new VmError('internal-error', -1, `alu64 op ${code}`);
}

function cond(insn: Insn, D: string, H: string, s: Src): string {
  const code = op.aluOp(insn.opcode);
  const is32 = op.cls(insn.opcode) === op.BPF_JMP32;
  const SL = s.l, SH = s.h;
  const uSL = s.k ? String(u32(s.kl)) : `(${SL} >>> 0)`;
  const uSH = s.k ? String(u32(s.kh)) : `(${SH} >>> 0)`;
  const uD = `(${D} >>> 0)`, uH = `(${H} >>> 0)`;
  if (is32) {
    switch (code) {
      case op.BPF_JEQ: return `${D} === ${SL}`;
      case op.BPF_JNE: return `${D} !== ${SL}`;
      case op.BPF_JGT: return `${uD} > ${uSL}`;
      case op.BPF_JGE: return `${uD} >= ${uSL}`;
      case op.BPF_JLT: return `${uD} < ${uSL}`;
      case op.BPF_JLE: return `${uD} <= ${uSL}`;
      case op.BPF_JSET: return `(${D} & ${SL}) !== 0`;
      case op.BPF_JSGT: return `${D} > ${SL}`;
      case op.BPF_JSGE: return `${D} >= ${SL}`;
      case op.BPF_JSLT: return `${D} < ${SL}`;
      case op.BPF_JSLE: return `${D} <= ${SL}`;
    }
  } else {
    const hiEq = `${H} === ${SH}`;
    switch (code) {
      case op.BPF_JEQ: return `${D} === ${SL} && ${hiEq}`;
      case op.BPF_JNE: return `${D} !== ${SL} || ${H} !== ${SH}`;
      case op.BPF_JGT: return `${uH} > ${uSH} || (${hiEq} && ${uD} > ${uSL})`;
      case op.BPF_JGE: return `${uH} > ${uSH} || (${hiEq} && ${uD} >= ${uSL})`;
      case op.BPF_JLT: return `${uH} < ${uSH} || (${hiEq} && ${uD} < ${uSL})`;
      case op.BPF_JLE: return `${uH} < ${uSH} || (${hiEq} && ${uD} <= ${uSL})`;
      case op.BPF_JSET: return `(${D} & ${SL}) !== 0 || (${H} & ${SH}) !== 0`;
      case op.BPF_JSGT: return `${H} > ${SH} || (${hiEq} && ${uD} > ${uSL})`;
      case op.BPF_JSGE: return `${H} > ${SH} || (${hiEq} && ${uD} >= ${uSL})`;
      case op.BPF_JSLT: return `${H} < ${SH} || (${hiEq} && ${uD} < ${uSL})`;
      case op.BPF_JSLE: return `${H} < ${SH} || (${hiEq} && ${uD} <= ${uSL})`;
    }
  }
  throw new VmError('internal-error', -1, `jump op ${code}`);
}

function loadCode(insn: Insn, pc: number): string {
  const size = SIZE[op.ldSize(insn.opcode)]!;
  const sx = op.ldMode(insn.opcode) === op.BPF_MEMSX;
  const D = `l${insn.dst}`, H = `h${insn.dst}`, SL = `l${insn.src}`, SH = `h${insn.src}`;
  const get = size === 1 ? (sx ? 'R.view.getInt8(o)' : 'R.view.getUint8(o)')
    : size === 2 ? (sx ? 'R.view.getInt16(o, true)' : 'R.view.getUint16(o, true)')
    : 'R.view.getInt32(o, true)';
  const hiFast = size === 8 ? `${H} = R.view.getInt32(o + 4, true);` : sx ? `${H} = ${D} >> 31;` : `${H} = 0;`;
  return `o = (${SL} >>> 0) + ${insn.off}; R = T[${SH}];` +
    ` if (R !== undefined && o >= 0 && o + ${size} <= R.length) { ${D} = ${get}; ${hiFast} }` +
    ` else { ${D} = K.ld(T, ${pc}, ${SL}, ${SH}, ${insn.off}, ${size}, ${sx ? 1 : 0}); ${H} = Z[0]; }`;
}

function storeCode(insn: Insn, pc: number): string {
  const size = SIZE[op.ldSize(insn.opcode)]!;
  const DL = `l${insn.dst}`, DH = `h${insn.dst}`;
  let vl: string, vh: string;
  if (op.cls(insn.opcode) === op.BPF_ST) { vl = `(${insn.imm})`; vh = insn.imm < 0 ? '(-1)' : '0'; }
  else { vl = `l${insn.src}`; vh = `h${insn.src}`; }
  const set = size === 1 ? `R.view.setInt8(o, ${vl})` : size === 2 ? `R.view.setInt16(o, ${vl}, true)`
    : size === 4 ? `R.view.setInt32(o, ${vl}, true)` : `R.view.setInt32(o, ${vl}, true); R.view.setInt32(o + 4, ${vh}, true)`;
  return `o = (${DL} >>> 0) + ${insn.off}; R = T[${DH}];` +
    ` if (R !== undefined && o >= 0 && o + ${size} <= R.length && R.writable) { ${set}; }` +
    ` else K.st(T, ${pc}, ${DL}, ${DH}, ${insn.off}, ${size}, ${vl}, ${vh});`;
}

function atomicCode(insn: Insn, pc: number): string {
  const size = SIZE[op.ldSize(insn.opcode)]!;
  const D = insn.dst, S = insn.src;
  const c = `t = K.atomic(T, ${pc}, l${D}, h${D}, ${insn.off}, ${size}, ${insn.imm}, l${S}, h${S}, l0, h0);`;
  if (insn.imm === op.BPF_CMPXCHG) return `${c} l0 = t; h0 = Z[0];`;
  if (insn.imm & op.BPF_FETCH) return `${c} l${S} = t; h${S} = Z[0];`;
  return c;
}

export interface CompiledProgram {
  fn: CompiledFn;
  state: CompiledState;
  source: string;
}

export function compile(a: Analyzed, helpers: HelperTable | undefined, call: HelperCallImpl): CompiledProgram {
  const { insns, leaders, budget } = a;
  const n = insns.length;
  const staticHelpers: (Helper | undefined)[] = [];
  const hasLocalCalls = insns.some((i) => !i.lddwHi && isLocalCall(i));
  const out: string[] = [];
  const emit = (s: string): void => { out.push(s); };
  const helperArgs = 'G[2] = l1; G[3] = h1; G[4] = l2; G[5] = h2; G[6] = l3; G[7] = h3; G[8] = l4; G[9] = h4; G[10] = l5; G[11] = h5; G[0] = 0; G[1] = 0;';
  const helperRet = `if (typeof t === 'number' && (t | 0) === t) { l0 = t | 0; h0 = t >> 31; } else { l0 = K.hr(t, C); h0 = Z[0]; } C.pc = -1;`;

  for (let i = 0; i < n; i++) {
    const insn = insns[i]!;
    if (insn.lddwHi) continue;
    if (leaders[i]) {
      // block length in instructions (an lddw counts once) up to the next leader
      let len = 0;
      for (let j = i; j < n && (j === i || !leaders[j]); j++) if (!insns[j]!.lddwHi) len++;
      emit(`case ${i}: n += ${len}; if (n > ${budget}) K.budget(${i}, n - ${len});`);
    }
    const { opcode, dst, src, imm } = insn;
    const D = `l${dst}`, H = `h${dst}`;
    const c = op.cls(opcode);
    switch (c) {
      case op.BPF_ALU: emit(alu32(insn, D, H, source(insn))); break;
      case op.BPF_ALU64: emit(alu64(insn, D, H, source(insn))); break;
      case op.BPF_LDX: emit(loadCode(insn, i)); break;
      case op.BPF_ST: emit(storeCode(insn, i)); break;
      case op.BPF_STX:
        emit(op.ldMode(opcode) === op.BPF_ATOMIC ? atomicCode(insn, i) : storeCode(insn, i));
        break;
      case op.BPF_LD:
        if (isLegacyPacketLoad(opcode)) {
          const size = SIZE[op.ldSize(opcode)]!;
          const o = op.ldMode(opcode) === op.BPF_IND ? `(l${src} + ${imm}) | 0` : String(imm);
          emit(`t = K.ldpkt(M, ${i}, ${o}, ${size}); if (t < 0) { S.h0 = 0; S.n = n; return 0; } l0 = t | 0; h0 = 0;`);
        } else {
          emit(`${D} = ${a.lddwLo[i]}; ${H} = ${a.lddwHi[i]};`);
        }
        break;
      case op.BPF_JMP:
      case op.BPF_JMP32: {
        const code = op.aluOp(opcode);
        if (code === op.BPF_EXIT) {
          let s = `if (depth === 0) { S.h0 = h0; S.n = n; return l0; }`;
          if (hasLocalCalls) {
            s += ` depth--; u = depth * 9; pc = FS[u]; l6 = FS[u + 1]; h6 = FS[u + 2]; l7 = FS[u + 3]; h7 = FS[u + 4];` +
              ` l8 = FS[u + 5]; h8 = FS[u + 6]; l9 = FS[u + 7]; h9 = FS[u + 8]; l10 = ${STACK_SIZE}; h10 = ${FIRST_STACK_ID} + depth; continue;`;
          }
          emit(s);
        } else if (code === op.BPF_CALL) {
          if (isLocalCall(insn)) {
            emit(`if (depth >= ${MAX_FRAMES - 1}) K.fault(${i}, 'call-depth', 'more than ${MAX_FRAMES} call frames');` +
              ` u = depth * 9; FS[u] = ${i + 1}; FS[u + 1] = l6; FS[u + 2] = h6; FS[u + 3] = l7; FS[u + 4] = h7;` +
              ` FS[u + 5] = l8; FS[u + 6] = h8; FS[u + 7] = l9; FS[u + 8] = h9; depth++; l10 = ${STACK_SIZE}; h10 = ${FIRST_STACK_ID} + depth;` +
              ` pc = ${i + 1 + imm}; continue;`);
          } else if (op.srcBit(opcode) === op.BPF_X) {
            emit(`f = (${H} === 0 && ${D} >= 0) ? HX(${D}) : undefined;` +
              ` if (f === undefined) K.fault(${i}, 'unknown-helper', 'callx target ' + ${H} + ':' + ${D} + ' is not a helper id');` +
              ` ${helperArgs} C.pc = ${i}; C.id = ${D}; t = f(C); ${helperRet}`);
          } else {
            const f = lookupHelper(helpers, imm) as Helper | undefined;
            if (!f) emit(`K.fault(${i}, 'unknown-helper', 'helper ${imm} is not available');`);
            else {
              staticHelpers[i] = f;
              emit(`${helperArgs} C.pc = ${i}; C.id = ${imm}; t = H${i}(C); ${helperRet}`);
            }
          }
        } else if (code === op.BPF_JA) {
          emit(`pc = ${jumpTarget(insn, i)}; continue;`);
        } else {
          emit(`if (${cond(insn, D, H, source(insn))}) { pc = ${jumpTarget(insn, i)}; continue; }`);
        }
        break;
      }
      default:
        throw new VmError('internal-error', i, `class ${c}`);
    }
    void isJmp;
  }
  emit(`case ${n}: K.fault(${n}, 'fell-off-end', 'execution ran past the last instruction');`);
  emit(`default: K.fault(pc, 'internal-error', 'bad dispatch target ' + pc);`);

  const helperDecls = staticHelpers.map((f, i) => (f ? `const H${i} = HF[${i}];` : '')).join(' ');
  const body = `"use strict"; ${helperDecls}
return function bpf_prog(T, M, l1, h1, l2, h2, l3, h3, l4, h4, l5, h5) {
  let l0 = 0, h0 = 0, l6 = 0, h6 = 0, l7 = 0, h7 = 0, l8 = 0, h8 = 0, l9 = 0, h9 = 0;
  let l10 = ${STACK_SIZE}, h10 = ${FIRST_STACK_ID};
  let n = 0, pc = 0, depth = 0, o = 0, t = 0, u = 0, R, f;
  for (;;) {
    switch (pc) {
${out.join('\n')}
    }
  }
};`;
  const state: CompiledState = { h0: 0, n: 0 };
  const FS = new Int32Array(MAX_FRAMES * 9);
  const K = { ...kit, budget: (pc: number, before: number): never => budgetFault(a, pc, before) };
  const HX = (id: number): Helper | undefined => lookupHelper(helpers, id) as Helper | undefined;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const factory = new Function('K', 'Z', 'S', 'C', 'G', 'FS', 'HF', 'HX', body) as (...args: unknown[]) => CompiledFn;
  const fn = factory(K, Z, state, call, call.regs, FS, staticHelpers, HX);
  return { fn, state, source: body };
}

/** The block starting at `start` would run past the budget: name the exact instruction. */
function budgetFault(a: Analyzed, start: number, before: number): never {
  let count = before;
  let pc = start;
  while (count < a.budget) { count++; pc += a.insns[pc]!.opcode === 0x18 ? 2 : 1; }
  throw new VmError('budget-exceeded', pc, `more than ${a.budget} instructions`);
}
