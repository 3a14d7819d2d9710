/**
 * Program builder: eBPF written in TypeScript the way kernel selftests write it in C with the
 * BPF_* macros, but with symbolic labels, maps and helpers resolved by a link step.
 *
 * ```ts
 * import { program, R0, R1, R2, R3, R4, R6, R10 } from 'reuseport/ebpf';
 * import { SK_PASS } from 'reuseport/kernel';
 *
 * // SK_REUSEPORT: pick socket (hash % n) from a REUSEPORT_SOCKARRAY, fall back to the kernel's choice
 * const bytes = program()
 *   .mov(R6, R1)                       // r6 = ctx (struct sk_reuseport_md *)
 *   .ldxw(R2, R6, 32)                  // r2 = ctx->hash (offsetof(struct sk_reuseport_md, hash))
 *   .mod32(R2, 4)                      // r2 %= 4 sockets
 *   .stxw(R10, -4, R2)                 // key on the stack
 *   .mov(R1, R6)                       // arg1 = ctx
 *   .ldMapFd(R2, 'sockets')            // arg2 = &sockarray       (BPF_LD_MAP_FD)
 *   .mov(R3, R10).add(R3, -4)          // arg3 = &key
 *   .mov(R4, 0)                        // arg4 = flags
 *   .call('sk_select_reuseport')       // BPF_EMIT_CALL(BPF_FUNC_sk_select_reuseport)
 *   .mov(R0, SK_PASS)
 *   .exit()
 *   .link({ maps: { sockets: fd } });  // -> Uint8Array, map name resolved to its fd
 * ```
 *
 * Conventions (same operand order as the ubpf assembly the disassembler prints):
 * - ALU: `.add(dst, src)` where src is a register (BPF_X) or a number (BPF_K); `add32` etc. are
 *   the 32-bit ALU class. Immediates are int32, or a uint32 bit pattern (0xffffffff == -1).
 * - Jumps: `.jeq(dst, srcOrImm, target)`; target is a label (`'out'`) or a relative slot offset
 *   (the C macros' `off`). `.label('out')` marks the next instruction.
 * - Memory: `.ldxw(dst, src, off)` is dst = *(u32 *)(src + off); `.stxw(dst, off, src)` and
 *   `.stw(dst, off, imm)` store to *(dst + off).
 * - `.link()` throws a typed LinkError on an undefined label, unresolved map, or a jump that
 *   leaves the program or does not fit its offset field; operand errors throw at the call.
 */
import * as op from './opcodes.js';
import { type Insn, encode, validate, withImm64 } from './insn.js';
import { LinkError } from './errors.js';
import { helperId, type HelperName } from './helpers.js';
import { formatInsn } from './disassembler.js';
import {
  ALU_BINARY, ATOMICS, INT16_MAX, INT16_MIN, INT32_MAX, INT32_MIN, JUMPS, SIZES, UINT32_MAX,
  type AluBinaryName, type AtomicName, type JumpName, type MemSize,
} from './syntax.js';

// ---------------------------------------------------------------------------------------------
// registers

/** A register operand. Use the R0..R10 constants; numbers are immediates. */
export interface Reg {
  readonly kind: 'reg';
  readonly index: number;
}

const makeReg = (index: number): Reg =>
  Object.freeze({ kind: 'reg' as const, index, toString: () => `%r${index}` });

export const R0 = makeReg(0), R1 = makeReg(1), R2 = makeReg(2), R3 = makeReg(3);
export const R4 = makeReg(4), R5 = makeReg(5), R6 = makeReg(6), R7 = makeReg(7);
export const R8 = makeReg(8), R9 = makeReg(9), R10 = makeReg(10);
/** r10, the read-only frame pointer. */
export const FP = R10;
export const REGS: readonly Reg[] = Object.freeze([R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10]);

export const isReg = (x: unknown): x is Reg =>
  typeof x === 'object' && x !== null && (x as Reg).kind === 'reg' &&
  Number.isInteger((x as Reg).index) && (x as Reg).index >= 0 && (x as Reg).index <= op.MAX_REG;

/** Register by number (0..10). */
export function reg(index: number): Reg {
  const r = REGS[index];
  if (!Number.isInteger(index) || r === undefined) throw new LinkError('bad-register', `no register r${index} (r0..r10)`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// operands

/** A jump/call target: a label name, or a relative offset in slots from the next instruction. */
export type Target = string | number;
/** A map reference in ld_imm64: a name resolved by link(), or a literal fd. */
export type MapRef = string | number;
/** What link() accepts for a map: an fd, or any object carrying one (e.g. a map object). */
export type MapFd = number | { readonly fd: number };

export interface LinkOptions {
  /** Map name -> fd for every `ldMapFd(reg, 'name')` / `ldMapValue(reg, 'name', off)`. */
  maps?: Readonly<Record<string, MapFd>> | ReadonlyMap<string, MapFd>;
}

type Fixup =
  | { kind: 'jump' | 'ja32' | 'call' | 'func'; index: number; target: Target }
  | { kind: 'map'; index: number; name: string };

const regIndex = (r: unknown, what: string): number => {
  if (!isReg(r)) throw new LinkError('bad-register', `${what} must be a register R0..R10, got ${describe(r)}`);
  return r.index;
};

function describe(x: unknown): string {
  if (typeof x === 'string') return `'${x}'`;
  if (typeof x === 'bigint') return `${x}n`;
  if (typeof x === 'object' && x !== null) return 'an object';
  return String(x);
}

/** int32, or a uint32 bit pattern; returned as int32. */
function imm32(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < INT32_MIN || v > UINT32_MAX) {
    throw new LinkError('range', `${what} must be an integer in [-2^31, 2^32), got ${describe(v)}`);
  }
  return v | 0;
}

function off16(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < INT16_MIN || v > INT16_MAX) {
    throw new LinkError('range', `${what} must be an integer in [-32768, 32767], got ${describe(v)}`);
  }
  return v;
}

function checkTarget(t: unknown): Target {
  if (typeof t === 'string') {
    if (t.length === 0) throw new LinkError('bad-operand', 'label name must not be empty');
    return t;
  }
  if (typeof t === 'number' && Number.isInteger(t)) return t;
  throw new LinkError('bad-operand', `jump target must be a label or an integer offset, got ${describe(t)}`);
}

const insn = (opcode: number, dst = 0, src = 0, off = 0, imm = 0): Insn => ({ opcode, dst, src, off, imm });

// ---------------------------------------------------------------------------------------------
// the builder

export class Program {
  readonly #slots: Insn[] = [];
  readonly #labels = new Map<string, number>();
  readonly #fixups: Fixup[] = [];

  /** Number of 8-byte slots so far (an lddw takes two). */
  get length(): number {
    return this.#slots.length;
  }

  /** Mark the next instruction with `name`. */
  label(name: string): this {
    if (typeof name !== 'string' || name.length === 0) throw new LinkError('bad-operand', 'label name must be a non-empty string');
    if (this.#labels.has(name)) {
      throw new LinkError('duplicate-label', `label '${name}' already marks instruction ${this.#labels.get(name)}`, this.#slots.length);
    }
    this.#labels.set(name, this.#slots.length);
    return this;
  }

  /** Append raw instruction slots (an lddw as its two slots). Checked by link(). */
  raw(...insns: Insn[]): this {
    for (const i of insns) this.#slots.push({ ...i });
    return this;
  }

  // --- ALU ------------------------------------------------------------------------------------

  #alu(cls: number, name: AluBinaryName, dst: Reg, src: Reg | number, off = 0): this {
    const d = regIndex(dst, `${name} destination`);
    if (isReg(src)) this.#slots.push(insn(cls | ALU_BINARY[name] | op.BPF_X, d, src.index, off, 0));
    else this.#slots.push(insn(cls | ALU_BINARY[name] | op.BPF_K, d, 0, off, imm32(src, `${name} immediate`)));
    return this;
  }

  /** dst += src (64-bit). */
  add(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU64, 'add', dst, src); }
  sub(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU64, 'sub', dst, src); }
  mul(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU64, 'mul', dst, src); }
  /** Unsigned division; x / 0 = 0. */
  div(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU64, 'div', dst, src); }
  /** Signed division (offset 1). */
  sdiv(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU64, 'div', dst, src, 1); }
  mod(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU64, 'mod', dst, src); }
  smod(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU64, 'mod', dst, src, 1); }
  or(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU64, 'or', dst, src); }
  and(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU64, 'and', dst, src); }
  xor(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU64, 'xor', dst, src); }
  lsh(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU64, 'lsh', dst, src); }
  rsh(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU64, 'rsh', dst, src); }
  arsh(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU64, 'arsh', dst, src); }
  /** dst = src (64-bit; an immediate is sign-extended). */
  mov(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU64, 'mov', dst, src); }

  add32(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU, 'add', dst, src); }
  sub32(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU, 'sub', dst, src); }
  mul32(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU, 'mul', dst, src); }
  div32(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU, 'div', dst, src); }
  sdiv32(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU, 'div', dst, src, 1); }
  mod32(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU, 'mod', dst, src); }
  smod32(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU, 'mod', dst, src, 1); }
  or32(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU, 'or', dst, src); }
  and32(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU, 'and', dst, src); }
  xor32(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU, 'xor', dst, src); }
  lsh32(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU, 'lsh', dst, src); }
  rsh32(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU, 'rsh', dst, src); }
  arsh32(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU, 'arsh', dst, src); }
  /** dst = (u32)src, upper 32 bits zeroed. */
  mov32(dst: Reg, src: Reg | number): this { return this.#alu(op.BPF_ALU, 'mov', dst, src); }

  /** dst = (s64)(s8|s16|s32)src (ALU64 MOVSX). */
  movsx(dst: Reg, src: Reg, bits: 8 | 16 | 32): this {
    if (bits !== 8 && bits !== 16 && bits !== 32) throw new LinkError('bad-operand', `movsx width must be 8, 16 or 32, got ${describe(bits)}`);
    return this.#alu(op.BPF_ALU64, 'mov', dst, this.#mustReg(src, 'movsx source'), bits);
  }
  /** dst = (u32)(s32)(s8|s16)src (ALU MOVSX). */
  movsx32(dst: Reg, src: Reg, bits: 8 | 16): this {
    if (bits !== 8 && bits !== 16) throw new LinkError('bad-operand', `movsx32 width must be 8 or 16, got ${describe(bits)}`);
    return this.#alu(op.BPF_ALU, 'mov', dst, this.#mustReg(src, 'movsx32 source'), bits);
  }

  #mustReg(r: Reg, what: string): Reg {
    regIndex(r, what);
    return r;
  }

  neg(dst: Reg): this { this.#slots.push(insn(op.BPF_ALU64 | op.BPF_NEG, regIndex(dst, 'neg destination'))); return this; }
  neg32(dst: Reg): this { this.#slots.push(insn(op.BPF_ALU | op.BPF_NEG, regIndex(dst, 'neg32 destination'))); return this; }

  #end(cls: number, src: number, dst: Reg, width: number, what: string): this {
    this.#slots.push(insn(cls | op.BPF_END | src, regIndex(dst, `${what} destination`), 0, 0, width));
    return this;
  }
  /** Convert to big endian (a swap on this little-endian ISA model). */
  be16(dst: Reg): this { return this.#end(op.BPF_ALU, op.BPF_TO_BE, dst, 16, 'be16'); }
  be32(dst: Reg): this { return this.#end(op.BPF_ALU, op.BPF_TO_BE, dst, 32, 'be32'); }
  be64(dst: Reg): this { return this.#end(op.BPF_ALU, op.BPF_TO_BE, dst, 64, 'be64'); }
  /** Convert to little endian (truncates to the width). */
  le16(dst: Reg): this { return this.#end(op.BPF_ALU, op.BPF_TO_LE, dst, 16, 'le16'); }
  le32(dst: Reg): this { return this.#end(op.BPF_ALU, op.BPF_TO_LE, dst, 32, 'le32'); }
  le64(dst: Reg): this { return this.#end(op.BPF_ALU, op.BPF_TO_LE, dst, 64, 'le64'); }
  /** Unconditional byte swap (ALU64 END). */
  bswap16(dst: Reg): this { return this.#end(op.BPF_ALU64, 0, dst, 16, 'bswap16'); }
  bswap32(dst: Reg): this { return this.#end(op.BPF_ALU64, 0, dst, 32, 'bswap32'); }
  bswap64(dst: Reg): this { return this.#end(op.BPF_ALU64, 0, dst, 64, 'bswap64'); }

  // --- 64-bit immediates -------------------------------------------------------------------------

  #ldImm64(dst: Reg, kind: number, lo: number, hi: number, what: string): number {
    const index = this.#slots.length;
    this.#slots.push(insn(op.BPF_LD | op.BPF_IMM | op.BPF_DW, regIndex(dst, `${what} destination`), kind, 0, lo));
    this.#slots.push({ ...insn(0, 0, 0, 0, hi), lddwHi: true });
    return index;
  }

  /** dst = a 64-bit constant (BPF_LD_IMM64). Numbers must be safe integers; bigints are taken mod 2^64. */
  lddw(dst: Reg, value: bigint | number): this {
    let v: bigint;
    if (typeof value === 'bigint') v = value;
    else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
    else throw new LinkError('range', `lddw value must be a bigint or a safe integer, got ${describe(value)}`);
    if (v < -(1n << 63n) || v >= 1n << 64n) throw new LinkError('range', `lddw value ${v} does not fit in 64 bits`);
    const u = BigInt.asUintN(64, v);
    this.#ldImm64(dst, 0, Number(BigInt.asIntN(32, u)), Number(BigInt.asIntN(32, u >> 32n)), 'lddw');
    return this;
  }

  #mapRef(dst: Reg, map: MapRef, kind: number, offset: number, what: string): this {
    if (typeof map === 'string') {
      if (map.length === 0) throw new LinkError('bad-operand', `${what}: map name must not be empty`);
      const index = this.#ldImm64(dst, kind, 0, offset, what);
      this.#fixups.push({ kind: 'map', index, name: map });
    } else if (typeof map === 'number' && Number.isInteger(map) && map >= 0 && map <= INT32_MAX) {
      this.#ldImm64(dst, kind, map, offset, what);
    } else {
      throw new LinkError('bad-operand', `${what}: map must be a name or a file descriptor, got ${describe(map)}`);
    }
    return this;
  }

  /** dst = map pointer (BPF_LD_MAP_FD: ld_imm64 with src_reg BPF_PSEUDO_MAP_FD). */
  ldMapFd(dst: Reg, map: MapRef): this { return this.#mapRef(dst, map, op.BPF_PSEUDO_MAP_FD, 0, 'ldMapFd'); }
  /** dst = address of the map's value + offset (BPF_PSEUDO_MAP_VALUE, array maps). */
  ldMapValue(dst: Reg, map: MapRef, offset = 0): this {
    return this.#mapRef(dst, map, op.BPF_PSEUDO_MAP_VALUE, imm32(offset, 'ldMapValue offset'), 'ldMapValue');
  }
  /** dst = address of a subprogram (BPF_PSEUDO_FUNC), e.g. a bpf_loop callback. */
  ldFunc(dst: Reg, target: Target): this {
    const index = this.#ldImm64(dst, op.BPF_PSEUDO_FUNC, 0, 0, 'ldFunc');
    this.#fixups.push({ kind: 'func', index, target: checkTarget(target) });
    return this;
  }
  /** Any ld_imm64 form: src kind 0..6 with the two raw 32-bit halves. */
  ldImm64Raw(dst: Reg, kind: number, imm: number, nextImm: number): this {
    if (!Number.isInteger(kind) || kind < 0 || kind > op.BPF_PSEUDO_MAP_IDX_VALUE) {
      throw new LinkError('bad-operand', `ld_imm64 source kind must be 0..6, got ${describe(kind)}`);
    }
    this.#ldImm64(dst, kind, imm32(imm, 'ld_imm64 imm'), imm32(nextImm, 'ld_imm64 next imm'), 'ldImm64Raw');
    return this;
  }

  // --- loads and stores -------------------------------------------------------------------------

  /** dst = *(size *)(src + off). */
  ldx(size: MemSize, dst: Reg, src: Reg, off = 0): this {
    this.#slots.push(insn(op.BPF_LDX | op.BPF_MEM | this.#size(size), regIndex(dst, 'load destination'),
      regIndex(src, 'load source'), off16(off, 'load offset')));
    return this;
  }
  /** dst = sign-extended *(s8|s16|s32 *)(src + off) (BPF_MEMSX). */
  ldxs(size: 'b' | 'h' | 'w', dst: Reg, src: Reg, off = 0): this {
    if (size !== 'b' && size !== 'h' && size !== 'w') throw new LinkError('bad-operand', `sign-extending load size must be b, h or w, got ${describe(size)}`);
    this.#slots.push(insn(op.BPF_LDX | op.BPF_MEMSX | SIZES[size], regIndex(dst, 'load destination'),
      regIndex(src, 'load source'), off16(off, 'load offset')));
    return this;
  }
  /** *(size *)(dst + off) = imm. */
  st(size: MemSize, dst: Reg, off: number, imm: number): this {
    this.#slots.push(insn(op.BPF_ST | op.BPF_MEM | this.#size(size), regIndex(dst, 'store destination'), 0,
      off16(off, 'store offset'), imm32(imm, 'store immediate')));
    return this;
  }
  /** *(size *)(dst + off) = src. */
  stx(size: MemSize, dst: Reg, off: number, src: Reg): this {
    this.#slots.push(insn(op.BPF_STX | op.BPF_MEM | this.#size(size), regIndex(dst, 'store destination'),
      regIndex(src, 'store source'), off16(off, 'store offset')));
    return this;
  }

  #size(size: MemSize): number {
    const s = SIZES[size];
    if (s === undefined || !Object.hasOwn(SIZES, size)) throw new LinkError('bad-operand', `memory size must be b, h, w or dw, got ${describe(size)}`);
    return s;
  }

  ldxb(dst: Reg, src: Reg, off = 0): this { return this.ldx('b', dst, src, off); }
  ldxh(dst: Reg, src: Reg, off = 0): this { return this.ldx('h', dst, src, off); }
  ldxw(dst: Reg, src: Reg, off = 0): this { return this.ldx('w', dst, src, off); }
  ldxdw(dst: Reg, src: Reg, off = 0): this { return this.ldx('dw', dst, src, off); }
  ldxsb(dst: Reg, src: Reg, off = 0): this { return this.ldxs('b', dst, src, off); }
  ldxsh(dst: Reg, src: Reg, off = 0): this { return this.ldxs('h', dst, src, off); }
  ldxsw(dst: Reg, src: Reg, off = 0): this { return this.ldxs('w', dst, src, off); }
  stb(dst: Reg, off: number, imm: number): this { return this.st('b', dst, off, imm); }
  sth(dst: Reg, off: number, imm: number): this { return this.st('h', dst, off, imm); }
  stw(dst: Reg, off: number, imm: number): this { return this.st('w', dst, off, imm); }
  stdw(dst: Reg, off: number, imm: number): this { return this.st('dw', dst, off, imm); }
  stxb(dst: Reg, off: number, src: Reg): this { return this.stx('b', dst, off, src); }
  stxh(dst: Reg, off: number, src: Reg): this { return this.stx('h', dst, off, src); }
  stxw(dst: Reg, off: number, src: Reg): this { return this.stx('w', dst, off, src); }
  stxdw(dst: Reg, off: number, src: Reg): this { return this.stx('dw', dst, off, src); }

  /**
   * Atomic read-modify-write on *(size *)(dst + off) with src. `fetch` returns the old value in
   * src (xchg and cmpxchg always fetch; cmpxchg compares with r0 and returns the old value in r0).
   */
  atomic(name: AtomicName, size: 'w' | 'dw', dst: Reg, off: number, src: Reg, opts: { fetch?: boolean } = {}): this {
    if (!Object.hasOwn(ATOMICS, name)) throw new LinkError('bad-operand', `unknown atomic operation ${describe(name)}`);
    if (size !== 'w' && size !== 'dw') throw new LinkError('bad-operand', `atomic size must be w or dw, got ${describe(size)}`);
    const imm = ATOMICS[name] | (opts.fetch ? op.BPF_FETCH : 0);
    this.#slots.push(insn(op.BPF_STX | op.BPF_ATOMIC | SIZES[size], regIndex(dst, 'atomic destination'),
      regIndex(src, 'atomic source'), off16(off, 'atomic offset'), imm));
    return this;
  }
  lockAdd(dst: Reg, off: number, src: Reg): this { return this.atomic('add', 'dw', dst, off, src); }
  lockAnd(dst: Reg, off: number, src: Reg): this { return this.atomic('and', 'dw', dst, off, src); }
  lockOr(dst: Reg, off: number, src: Reg): this { return this.atomic('or', 'dw', dst, off, src); }
  lockXor(dst: Reg, off: number, src: Reg): this { return this.atomic('xor', 'dw', dst, off, src); }
  lockFetchAdd(dst: Reg, off: number, src: Reg): this { return this.atomic('add', 'dw', dst, off, src, { fetch: true }); }
  lockFetchAnd(dst: Reg, off: number, src: Reg): this { return this.atomic('and', 'dw', dst, off, src, { fetch: true }); }
  lockFetchOr(dst: Reg, off: number, src: Reg): this { return this.atomic('or', 'dw', dst, off, src, { fetch: true }); }
  lockFetchXor(dst: Reg, off: number, src: Reg): this { return this.atomic('xor', 'dw', dst, off, src, { fetch: true }); }
  lockXchg(dst: Reg, off: number, src: Reg): this { return this.atomic('xchg', 'dw', dst, off, src); }
  lockCmpxchg(dst: Reg, off: number, src: Reg): this { return this.atomic('cmpxchg', 'dw', dst, off, src); }
  lockAdd32(dst: Reg, off: number, src: Reg): this { return this.atomic('add', 'w', dst, off, src); }
  lockAnd32(dst: Reg, off: number, src: Reg): this { return this.atomic('and', 'w', dst, off, src); }
  lockOr32(dst: Reg, off: number, src: Reg): this { return this.atomic('or', 'w', dst, off, src); }
  lockXor32(dst: Reg, off: number, src: Reg): this { return this.atomic('xor', 'w', dst, off, src); }
  lockFetchAdd32(dst: Reg, off: number, src: Reg): this { return this.atomic('add', 'w', dst, off, src, { fetch: true }); }
  lockFetchAnd32(dst: Reg, off: number, src: Reg): this { return this.atomic('and', 'w', dst, off, src, { fetch: true }); }
  lockFetchOr32(dst: Reg, off: number, src: Reg): this { return this.atomic('or', 'w', dst, off, src, { fetch: true }); }
  lockFetchXor32(dst: Reg, off: number, src: Reg): this { return this.atomic('xor', 'w', dst, off, src, { fetch: true }); }
  lockXchg32(dst: Reg, off: number, src: Reg): this { return this.atomic('xchg', 'w', dst, off, src); }
  lockCmpxchg32(dst: Reg, off: number, src: Reg): this { return this.atomic('cmpxchg', 'w', dst, off, src); }

  /** Legacy packet access (socket filters): r0 = ntoh(*(size *)(skb->data + imm)). */
  ldabs(size: 'b' | 'h' | 'w', imm: number): this {
    if (size !== 'b' && size !== 'h' && size !== 'w') throw new LinkError('bad-operand', `ldabs size must be b, h or w, got ${describe(size)}`);
    this.#slots.push(insn(op.BPF_LD | op.BPF_ABS | SIZES[size], 0, 0, 0, imm32(imm, 'ldabs offset')));
    return this;
  }
  /** Legacy packet access: r0 = ntoh(*(size *)(skb->data + src + imm)). */
  ldind(size: 'b' | 'h' | 'w', src: Reg, imm: number): this {
    if (size !== 'b' && size !== 'h' && size !== 'w') throw new LinkError('bad-operand', `ldind size must be b, h or w, got ${describe(size)}`);
    this.#slots.push(insn(op.BPF_LD | op.BPF_IND | SIZES[size], 0, regIndex(src, 'ldind source'), 0, imm32(imm, 'ldind offset')));
    return this;
  }

  // --- jumps and calls ---------------------------------------------------------------------------

  #jmp(cls: number, name: JumpName, dst: Reg, src: Reg | number, target: Target): this {
    const d = regIndex(dst, `${name} left operand`);
    const t = checkTarget(target);
    const index = this.#slots.length;
    if (isReg(src)) this.#slots.push(insn(cls | JUMPS[name] | op.BPF_X, d, src.index));
    else this.#slots.push(insn(cls | JUMPS[name] | op.BPF_K, d, 0, 0, imm32(src, `${name} immediate`)));
    this.#fixups.push({ kind: 'jump', index, target: t });
    return this;
  }

  /** goto target (16-bit offset). */
  ja(target: Target): this {
    const t = checkTarget(target);
    this.#fixups.push({ kind: 'jump', index: this.#slots.length, target: t });
    this.#slots.push(insn(op.BPF_JMP | op.BPF_JA));
    return this;
  }
  /** gotol: goto with a 32-bit offset (JMP32 class JA, offset in imm). */
  ja32(target: Target): this {
    const t = checkTarget(target);
    this.#fixups.push({ kind: 'ja32', index: this.#slots.length, target: t });
    this.#slots.push(insn(op.BPF_JMP32 | op.BPF_JA));
    return this;
  }
  jeq(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP, 'jeq', dst, src, target); }
  jne(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP, 'jne', dst, src, target); }
  jgt(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP, 'jgt', dst, src, target); }
  jge(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP, 'jge', dst, src, target); }
  jlt(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP, 'jlt', dst, src, target); }
  jle(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP, 'jle', dst, src, target); }
  jset(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP, 'jset', dst, src, target); }
  jsgt(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP, 'jsgt', dst, src, target); }
  jsge(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP, 'jsge', dst, src, target); }
  jslt(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP, 'jslt', dst, src, target); }
  jsle(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP, 'jsle', dst, src, target); }
  jeq32(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP32, 'jeq', dst, src, target); }
  jne32(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP32, 'jne', dst, src, target); }
  jgt32(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP32, 'jgt', dst, src, target); }
  jge32(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP32, 'jge', dst, src, target); }
  jlt32(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP32, 'jlt', dst, src, target); }
  jle32(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP32, 'jle', dst, src, target); }
  jset32(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP32, 'jset', dst, src, target); }
  jsgt32(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP32, 'jsgt', dst, src, target); }
  jsge32(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP32, 'jsge', dst, src, target); }
  jslt32(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP32, 'jslt', dst, src, target); }
  jsle32(dst: Reg, src: Reg | number, target: Target): this { return this.#jmp(op.BPF_JMP32, 'jsle', dst, src, target); }

  /** Call a helper by name ('sk_select_reuseport' / 'bpf_sk_select_reuseport') or numeric id. */
  call(helper: HelperName | `bpf_${HelperName}` | number): this {
    let id: number;
    if (typeof helper === 'number') id = imm32(helper, 'helper id');
    else if (typeof helper === 'string') {
      try {
        id = helperId(helper);
      } catch {
        throw new LinkError('unknown-helper', `unknown BPF helper '${helper}'`, this.#slots.length);
      }
    } else throw new LinkError('unknown-helper', `helper must be a name or an id, got ${describe(helper)}`, this.#slots.length);
    this.#slots.push(insn(op.BPF_JMP | op.BPF_CALL, 0, 0, 0, id));
    return this;
  }
  /** bpf-to-bpf call of the subprogram at target (src_reg BPF_PSEUDO_CALL, imm = relative slot offset). */
  callLocal(target: Target): this {
    const t = checkTarget(target);
    this.#fixups.push({ kind: 'call', index: this.#slots.length, target: t });
    this.#slots.push(insn(op.BPF_JMP | op.BPF_CALL, 0, op.BPF_PSEUDO_CALL));
    return this;
  }
  /** Indirect call through a register (callx: BPF_JMP|BPF_CALL|BPF_X, target register in dst). */
  callx(target: Reg): this {
    this.#slots.push(insn(op.BPF_JMP | op.BPF_CALL | op.BPF_X, regIndex(target, 'callx target')));
    return this;
  }
  /** Call a kernel function by BTF id (src_reg BPF_PSEUDO_KFUNC_CALL). */
  callKfunc(btfId: number): this {
    this.#slots.push(insn(op.BPF_JMP | op.BPF_CALL, 0, op.BPF_PSEUDO_KFUNC_CALL, 0, imm32(btfId, 'kfunc BTF id')));
    return this;
  }
  exit(): this {
    this.#slots.push(insn(op.BPF_JMP | op.BPF_EXIT));
    return this;
  }

  // --- link ------------------------------------------------------------------------------------

  /** Resolve labels and maps into instruction slots (a fresh copy every call). */
  linkInsns(opts: LinkOptions = {}): Insn[] {
    const slots = this.#slots.map((s) => ({ ...s }));
    const n = slots.length;
    if (n === 0) throw new LinkError('empty-program', 'program has no instructions');
    const isHi = (i: number): boolean => slots[i]?.lddwHi === true;

    for (const f of this.#fixups) {
      const at = slots[f.index]!;
      if (f.kind === 'map') {
        at.imm = resolveMap(opts.maps, f.name, f.index);
        continue;
      }
      let rel: number;
      if (typeof f.target === 'string') {
        const dest = this.#labels.get(f.target);
        if (dest === undefined) throw new LinkError('undefined-label', `undefined label '${f.target}'`, f.index);
        rel = dest - f.index - 1;
      } else rel = f.target;
      const dest = f.index + 1 + rel;
      const name = typeof f.target === 'string' ? `label '${f.target}'` : `offset ${rel}`;
      if (dest < 0 || dest >= n) {
        throw new LinkError('jump-out-of-range', `${name} leads to instruction ${dest}, outside the program (0..${n - 1})`, f.index);
      }
      if (isHi(dest)) throw new LinkError('jump-out-of-range', `${name} leads into the middle of the lddw at ${dest - 1}`, f.index);
      if (f.kind === 'jump') {
        if (rel < INT16_MIN || rel > INT16_MAX) {
          throw new LinkError('jump-out-of-range', `${name} is ${rel} slots away, beyond the 16-bit jump offset (use ja32)`, f.index);
        }
        at.off = rel;
      } else {
        at.imm = rel;
      }
    }
    for (let i = 0; i < n; i++) {
      const s = slots[i]!;
      if (s.lddwHi) {
        if (i === 0 || slots[i - 1]!.opcode !== (op.BPF_LD | op.BPF_IMM | op.BPF_DW) || slots[i - 1]!.lddwHi) {
          throw new LinkError('bad-operand', 'lddw second half without its first half', i);
        }
        continue;
      }
      if (s.opcode === (op.BPF_LD | op.BPF_IMM | op.BPF_DW) && !(slots[i + 1]?.lddwHi)) {
        throw new LinkError('bad-operand', 'lddw is missing its second half', i);
      }
      const why = validate(s);
      if (why) throw new LinkError('bad-operand', why, i);
    }
    return withImm64(slots);
  }

  /**
   * The program as assembly text with labels and map names kept symbolic, e.g. for a listing:
   * `assemble(p.toAsm(), { maps })` equals `p.link({ maps })` when the label names are plain
   * identifiers (letters, digits, `_`, `.`, `$`).
   */
  toAsm(): string {
    const slots = this.#slots;
    const fixupAt = new Map<number, Fixup>(this.#fixups.map((f) => [f.index, f]));
    const labelsAt = new Map<number, string[]>();
    for (const [name, i] of this.#labels) labelsAt.set(i, [...(labelsAt.get(i) ?? []), name]);
    const rel = (n: number): string => (n >= 0 ? `+${n}` : `${n}`);
    const lines: string[] = [];
    for (let i = 0; i <= slots.length; i++) {
      for (const name of labelsAt.get(i) ?? []) lines.push(`${name}:`);
      const s = slots[i];
      if (!s || s.lddwHi) continue;
      const f = fixupAt.get(i);
      if (f?.kind === 'map') {
        const hi = slots[i + 1]?.imm ?? 0;
        const kind = s.src === op.BPF_PSEUDO_MAP_VALUE ? 'map_value' : 'map_fd';
        lines.push(`lddw %r${s.dst}, ${kind} ${f.name}${hi !== 0 ? ` ${hi}` : ''}`);
        continue;
      }
      const target = f === undefined ? rel : () => (typeof f.target === 'string' ? f.target : rel(f.target));
      lines.push(formatInsn(s, slots[i + 1], target));
    }
    return lines.join('\n') + '\n';
  }

  /** Resolve labels and maps and encode: the bytes to load with BPF_PROG_LOAD. */
  link(opts: LinkOptions = {}): Uint8Array {
    return encode(this.linkInsns(opts));
  }
}

function resolveMap(maps: LinkOptions['maps'], name: string, index: number): number {
  let v: MapFd | undefined;
  if (maps instanceof Map) v = maps.get(name);
  else if (maps && typeof maps === 'object' && Object.hasOwn(maps, name)) v = (maps as Record<string, MapFd>)[name];
  if (v === undefined) throw new LinkError('unresolved-map', `map '${name}' is not given to link({ maps })`, index);
  const fd = typeof v === 'number' ? v : typeof v === 'object' && v !== null ? v.fd : undefined;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0 || fd > INT32_MAX) {
    throw new LinkError('unresolved-map', `map '${name}' has no valid file descriptor (${describe(fd)})`, index);
  }
  return fd;
}

/** Start a new program. */
export const program = (): Program => new Program();
