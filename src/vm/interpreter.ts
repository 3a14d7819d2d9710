/**
 * The reference interpreter: one instruction at a time, registers as exact unsigned 64-bit
 * BigInts (BigUint64Array wraps every store mod 2^64), addresses computed in full 64 bits.
 * Slow on purpose: it is the plain reading of RFC 9669 the compiled path is checked against.
 */
import type { Insn } from '../ebpf/insn.js';
import * as op from '../ebpf/opcodes.js';
import { VmError } from './errors.js';
import { HelperCallImpl, helperResult, resultHi } from './helper_call.js';
import type { Memory, Region } from './memory.js';
import { isLegacyPacketLoad, jumpTarget, lookupHelper, type Analyzed } from './program.js';
import { FIRST_STACK_ID, MAX_FRAMES, STACK_SIZE, type Helper, type HelperTable } from './types.js';

const M32 = 0xffffffffn;
const SPAN = 1n << 32n;
const SIZE: Record<number, number> = { [op.BPF_B]: 1, [op.BPF_H]: 2, [op.BPF_W]: 4, [op.BPF_DW]: 8 };

const sx = (v: bigint, bits: number): bigint => BigInt.asUintN(64, BigInt.asIntN(bits, v));
const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const s32 = (v: bigint): bigint => BigInt.asIntN(32, v);

function bswap(v: bigint, bits: number): bigint {
  let out = 0n;
  for (let i = 0; i < bits / 8; i++) out = (out << 8n) | ((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

export interface RunState {
  insnCount: number;
  r0: bigint;
}

/** Locate [addr, addr+size) in memory; faults name the pc. */
function locate(mem: Memory, addr: bigint, size: number, write: boolean, pc: number): [Region, number] {
  const id = Number(addr >> 32n);
  const off = Number(addr & M32);
  const r = id < mem.table.length ? mem.table[id] : undefined;
  if (r === undefined || off + size > r.length) {
    throw new VmError('out-of-bounds', pc, `${write ? 'store' : 'load'} of ${size} bytes at 0x${addr.toString(16)}${r && r.length ? ` (${r.name}, length ${r.length})` : ''}`);
  }
  if (write && !r.writable) throw new VmError('read-only', pc, `store of ${size} bytes at 0x${addr.toString(16)} (${r.name})`);
  return [r, off];
}

function load(r: Region, off: number, size: number): bigint {
  switch (size) {
    case 1: return BigInt(r.view.getUint8(off));
    case 2: return BigInt(r.view.getUint16(off, true));
    case 4: return BigInt(r.view.getUint32(off, true));
    default: return r.view.getBigUint64(off, true);
  }
}

function store(r: Region, off: number, size: number, v: bigint): void {
  switch (size) {
    case 1: r.view.setUint8(off, Number(v & 0xffn)); break;
    case 2: r.view.setUint16(off, Number(v & 0xffffn), true); break;
    case 4: r.view.setUint32(off, Number(v & M32), true); break;
    default: r.view.setBigUint64(off, BigInt.asUintN(64, v), true);
  }
}

export class Interpreter {
  private readonly a: Analyzed;
  private readonly helpers: HelperTable | undefined;
  private readonly call: HelperCallImpl;

  constructor(a: Analyzed, helpers: HelperTable | undefined, call: HelperCallImpl) {
    this.a = a;
    this.helpers = helpers;
    this.call = call;
  }

  private helper(id: number, pc: number): Helper {
    const f = lookupHelper(this.helpers, id);
    if (!f) throw new VmError('unknown-helper', pc, `helper ${id} is not available`);
    return f as Helper;
  }

  run(mem: Memory, args: readonly bigint[], st: RunState): void {
    const { insns, lddwBig, budget } = this.a;
    const n = insns.length;
    const reg = new BigUint64Array(11);
    for (let i = 0; i < 5; i++) reg[i + 1] = args[i] ?? 0n;
    let depth = 0;
    const frames: { ret: number; saved: bigint[] }[] = [];
    const setR10 = (): void => { reg[10] = BigInt(FIRST_STACK_ID + depth) * SPAN + BigInt(STACK_SIZE); };
    setR10();
    let pc = 0;
    let count = 0;
    st.insnCount = 0;
    for (;;) {
      if (pc >= n) { st.insnCount = count; throw new VmError('fell-off-end', pc, 'execution ran past the last instruction'); }
      if (++count > budget) { st.insnCount = count - 1; throw new VmError('budget-exceeded', pc, `more than ${budget} instructions`); }
      st.insnCount = count;
      const insn: Insn = insns[pc]!;
      const { opcode, dst, src, off, imm } = insn;
      const c = op.cls(opcode);
      switch (c) {
        case op.BPF_ALU:
        case op.BPF_ALU64: {
          const is64 = c === op.BPF_ALU64;
          const code = op.aluOp(opcode);
          const x = op.srcBit(opcode) === op.BPF_X;
          const d = reg[dst]!;
          // source: register, or imm sign-extended to 64 (ALU64) / taken as 32 bits (ALU)
          let s = x ? reg[src]! : BigInt.asUintN(64, BigInt(imm));
          if (!is64) s &= M32;
          const a = is64 ? d : d & M32;
          const width = is64 ? 64 : 32;
          const wrap = (v: bigint): bigint => BigInt.asUintN(width, v);
          const sgn = (v: bigint): bigint => BigInt.asIntN(width, v);
          let r: bigint;
          switch (code) {
            case op.BPF_ADD: r = wrap(a + s); break;
            case op.BPF_SUB: r = wrap(a - s); break;
            case op.BPF_MUL: r = wrap(a * s); break;
            case op.BPF_DIV:
              if (s === 0n) r = 0n;
              else if (off === 1) r = wrap(sgn(a) / sgn(s)); // BigInt division truncates like C
              else r = a / s;
              break;
            case op.BPF_MOD:
              if (s === 0n) r = a; // dividend unchanged (already truncated to 32 bits for ALU)
              else if (off === 1) r = wrap(sgn(a) % sgn(s));
              else r = a % s;
              break;
            case op.BPF_OR: r = a | s; break;
            case op.BPF_AND: r = a & s; break;
            case op.BPF_XOR: r = a ^ s; break;
            case op.BPF_LSH: r = wrap(a << (s & BigInt(width - 1))); break;
            case op.BPF_RSH: r = a >> (s & BigInt(width - 1)); break;
            case op.BPF_ARSH: r = wrap(sgn(a) >> (s & BigInt(width - 1))); break;
            case op.BPF_NEG: r = wrap(-a); break;
            case op.BPF_MOV:
              r = off === 0 ? s : wrap(BigInt.asIntN(off, s));
              break;
            case op.BPF_END: {
              const bits = imm;
              const low = d & ((1n << BigInt(bits)) - 1n);
              const toBe = is64 || op.srcBit(opcode) === op.BPF_TO_BE; // ALU64 END = unconditional bswap
              r = toBe ? bswap(low, bits) : low; // host is little-endian: to-le only truncates
              break;
            }
            default: throw new VmError('internal-error', pc, `ALU op 0x${code.toString(16)}`);
          }
          reg[dst] = r;
          pc++;
          break;
        }
        case op.BPF_JMP:
        case op.BPF_JMP32: {
          const code = op.aluOp(opcode);
          const x = op.srcBit(opcode) === op.BPF_X;
          if (code === op.BPF_EXIT) {
            if (depth === 0) { st.r0 = reg[0]!; return; }
            const f = frames.pop()!;
            depth--;
            for (let k = 0; k < 4; k++) reg[6 + k] = f.saved[k]!;
            setR10();
            pc = f.ret;
            break;
          }
          if (code === op.BPF_CALL) {
            if (!x && src === op.BPF_PSEUDO_CALL) {
              if (depth + 1 >= MAX_FRAMES) throw new VmError('call-depth', pc, `more than ${MAX_FRAMES} call frames`);
              frames.push({ ret: pc + 1, saved: [reg[6]!, reg[7]!, reg[8]!, reg[9]!] });
              depth++;
              setR10();
              pc = pc + 1 + imm;
              break;
            }
            // helper by static id, or callx: the id is in dst (conformance-suite semantics)
            let id: number;
            if (x) {
              const v = reg[dst]!;
              if (v > 0x7fffffffn) throw new VmError('unknown-helper', pc, `callx target 0x${v.toString(16)} is not a helper id`);
              id = Number(v);
            } else id = imm;
            const f = this.helper(id, pc);
            const call = this.call;
            call.mem = mem;
            const g = call.regs;
            for (let k = 1; k <= 5; k++) {
              g[2 * k] = Number(reg[k]! & M32) | 0;
              g[2 * k + 1] = Number(reg[k]! >> 32n) | 0;
            }
            g[0] = 0; g[1] = 0;
            call.pc = pc; call.id = id;
            const t = f(call);
            const lo = helperResult(t, call);
            call.pc = -1;
            reg[0] = (BigInt(resultHi[0]! >>> 0) << 32n) | BigInt(lo >>> 0);
            pc++;
            break;
          }
          const is32 = c === op.BPF_JMP32;
          let a = reg[dst]!;
          let s = x ? reg[src]! : BigInt.asUintN(64, BigInt(imm));
          if (is32) { a &= M32; s &= M32; }
          const sgn = is32 ? s32 : s64;
          let taken: boolean;
          switch (code) {
            case op.BPF_JA: taken = true; break;
            case op.BPF_JEQ: taken = a === s; break;
            case op.BPF_JNE: taken = a !== s; break;
            case op.BPF_JGT: taken = a > s; break;
            case op.BPF_JGE: taken = a >= s; break;
            case op.BPF_JLT: taken = a < s; break;
            case op.BPF_JLE: taken = a <= s; break;
            case op.BPF_JSET: taken = (a & s) !== 0n; break;
            case op.BPF_JSGT: taken = sgn(a) > sgn(s); break;
            case op.BPF_JSGE: taken = sgn(a) >= sgn(s); break;
            case op.BPF_JSLT: taken = sgn(a) < sgn(s); break;
            case op.BPF_JSLE: taken = sgn(a) <= sgn(s); break;
            default: throw new VmError('internal-error', pc, `jump op 0x${code.toString(16)}`);
          }
          pc = taken ? jumpTarget(insn, pc) : pc + 1;
          break;
        }
        case op.BPF_LD: {
          if (!isLegacyPacketLoad(opcode)) { reg[dst] = lddwBig[pc]!; pc += 2; break; }
          const size = SIZE[op.ldSize(opcode)]!;
          const pkt = mem.packet;
          if (!pkt) throw new VmError('no-packet', pc, 'ld_abs/ld_ind without a packet region');
          const base = op.ldMode(opcode) === op.BPF_IND ? s32(reg[src]! & M32) : 0n;
          const o = s32(base + BigInt(imm)); // the kernel adds in 32 bits
          if (o < 0n || Number(o) + size > pkt.length) { st.r0 = 0n; return; } // kernel: program ends, returns 0
          let v = 0n;
          for (let k = 0; k < size; k++) v = (v << 8n) | BigInt(pkt.bytes[Number(o) + k]!); // network order
          reg[0] = v;
          pc++;
          break;
        }
        case op.BPF_LDX: {
          const size = SIZE[op.ldSize(opcode)]!;
          const addr = BigInt.asUintN(64, reg[src]! + BigInt(off));
          const [r, o] = locate(mem, addr, size, false, pc);
          const v = load(r, o, size);
          reg[dst] = op.ldMode(opcode) === op.BPF_MEMSX ? sx(v, size * 8) : v;
          pc++;
          break;
        }
        case op.BPF_ST:
        case op.BPF_STX: {
          const size = SIZE[op.ldSize(opcode)]!;
          const addr = BigInt.asUintN(64, reg[dst]! + BigInt(off));
          const [r, o] = locate(mem, addr, size, true, pc);
          if (c === op.BPF_ST) { store(r, o, size, BigInt.asUintN(64, BigInt(imm))); pc++; break; }
          if (op.ldMode(opcode) === op.BPF_MEM) { store(r, o, size, reg[src]!); pc++; break; }
          // atomics: no concurrency inside one VM, so a plain read-modify-write is atomic
          const mask = size === 4 ? M32 : (1n << 64n) - 1n;
          const old = load(r, o, size);
          const sv = reg[src]! & mask;
          const aop = imm;
          if (aop === op.BPF_CMPXCHG) {
            if ((reg[0]! & mask) === old) store(r, o, size, sv);
            reg[0] = old;
          } else if (aop === op.BPF_XCHG) {
            store(r, o, size, sv);
            reg[src] = old;
          } else {
            const base = aop & ~op.BPF_FETCH;
            const nv = base === op.BPF_ADD ? old + sv : base === op.BPF_OR ? old | sv : base === op.BPF_AND ? old & sv : old ^ sv;
            store(r, o, size, nv & mask);
            if (aop & op.BPF_FETCH) reg[src] = old;
          }
          pc++;
          break;
        }
        default:
          throw new VmError('internal-error', pc, `class ${c}`);
      }
    }
  }
}
