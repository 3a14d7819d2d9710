/**
 * Load-time checks (kernel/bpf/verifier.c, reduced): ld_imm64 map resolution, control-flow
 * checks (check_cfg), then a path-sensitive abstract interpretation of registers and stack
 * (do_check): uninitialised reads, context/packet/map-value/socket access rules, helper
 * prototypes and map compatibility, NULL checks, stack size across bpf-to-bpf calls.
 * Failures throw VerifierError with the kernel's errno and a log naming the instruction.
 * Runtime memory safety stays with the VM's bounds checks.
 *
 * The search follows Linux 6.18 so that the same programs load: the stack is typed per byte
 * (INVALID/MISC/ZERO/SPILL) with 1/2/4/8-byte scalar spills kept at slot starts; states are
 * checkpointed at prune points with the kernel's heuristics and pruned by subsumption
 * (states_equal/regsafe: live registers only, scalars compared by range only when precise);
 * precision is learnt by walking the path back (mark_chain_precision); a loop is infinite when
 * a checkpoint still being explored repeats exactly; copies of a scalar share an id so a bound
 * on one bounds the others (sync_linked_regs).
 */
import * as op from '../ebpf/opcodes.js';
import { DecodeError, decode, type Insn } from '../ebpf/insn.js';
import { HELPER_NAMES } from '../ebpf/helpers.js';
import { formatInsn } from '../ebpf/disassembler.js';
import {
  BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS,
  BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, BPF_MAP_TYPE_SOCKHASH, BPF_MAP_TYPE_SOCKMAP,
  BPF_PROG_TYPE_SK_REUSEPORT, BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_XDP, BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK,
  BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH, type ErrnoCode,
} from '../kernel/index.js';
import type { BpfMap } from './bpf_map.js';
import { bpfSockAccess, skFilterAccess, skReuseportAccess } from './sk_reuseport_md.js';
import { computeLiveRegs } from './verifier_liveness.js';

export class VerifierError extends Error {
  constructor(readonly code: ErrnoCode, readonly log: string) {
    const lines = log.trim().split('\n').filter((l) => !l.startsWith('processed '));
    super(lines.pop() ?? log);
  }
}

type T = 'not_init' | 'scalar' | 'ctx' | 'fp' | 'pkt' | 'pkt_end' | 'map_ptr' | 'map_ptr_or_null' | 'map_value' |
  'map_value_or_null' | 'sock' | 'sock_or_null' | 'sock_common' | 'sock_common_or_null';

interface Reg {
  t: T;
  /** Known constant offset of a pointer. */
  off: number;
  /** Scalars (and pointer variable parts): unsigned range. */
  umin: bigint;
  umax: bigint;
  map?: BpfMap;
  /** NULL-check id shared by copies of one maybe-NULL pointer. */
  id: number;
  /** Frame a stack pointer points into. */
  frame: number;
  /** Known trailing zero bits of a scalar, or of a pointer's variable part (a tnum in brief). */
  align?: number;
  /** Packet pointers: bytes verified readable from this pointer (reg->range). */
  range?: number;
  /** Scalars: some safety decision depends on this exact range (reg->precise); imprecise ones prune as "any". */
  precise?: boolean;
}

const U64_MAX = (1n << 64n) - 1n;
const NOT_INIT: Reg = { t: 'not_init', off: 0, umin: 0n, umax: U64_MAX, id: 0, frame: 0 };
const unknown = (): Reg => ({ t: 'scalar', off: 0, umin: 0n, umax: U64_MAX, id: 0, frame: 0 });
const konst = (v: bigint): Reg => { const x = BigInt.asUintN(64, v); return { t: 'scalar', off: 0, umin: x, umax: x, id: 0, frame: 0, align: tz(x) }; };
/** Trailing zero bits of a constant (16 for 0: "aligned enough"). */
function tz(x: bigint): number {
  if (x === 0n) return 16;
  let n = 0;
  while (n < 16 && ((x >> BigInt(n)) & 1n) === 0n) n++;
  return n;
}
const alignOf = (r: Reg): number => (isConstReg(r) ? tz(r.umin) : r.align ?? 0);
const isConstReg = (r: Reg): boolean => r.t === 'scalar' && r.umin === r.umax;
/** The tnum mask a bounded variable part prints as. */
function tnumMask(umax: bigint, align: number): string {
  let m = 1n;
  while (m <= umax) m <<= 1n;
  m -= 1n;
  m &= ~((1n << BigInt(Math.min(align, 16))) - 1n);
  return `(0x0; 0x${m.toString(16)})`;
}
const isConst = (r: Reg): boolean => r.t === 'scalar' && r.umin === r.umax;

/** slot_type of one stack byte (enum bpf_stack_slot_type). */
const STACK_INVALID = 0, STACK_MISC = 1, STACK_ZERO = 2, STACK_SPILL = 3;
/** Flag on a scalar id: this register is its linked copy plus a constant (BPF_ADD_CONST). */
const ADD_CONST = 1 << 30;

interface Frame {
  regs: Reg[];
  /** slot_type per stack byte, indexed by 512 + fp offset. A spill's bytes start at its slot's lowest address. */
  stype: Uint8Array;
  /** spilled_ptr per 8-byte slot (index = (512 + off) >> 3), valid while the slot's first byte is STACK_SPILL. */
  spills: (Reg | null)[];
  /** Return pc in the caller. */
  ret: number;
  /** Lowest stack offset used (positive bytes). */
  depth: number;
}

interface State {
  pc: number;
  frames: Frame[];
  refs: number[];
  /** The last checkpoint on this path (cur->parent). */
  cp: Checkpoint | null;
  /** Instructions executed on this path, newest first (the jmp_history precision backtracking walks). */
  hist: Hist | null;
}

/** A state kept at a prune point (struct bpf_verifier_state_list). */
interface Checkpoint {
  st: State;
  parent: Checkpoint | null;
  /** Paths still being explored below this state; 0 = fully verified (safe to prune against). */
  branches: number;
  hit: number;
  miss: number;
}

/** One executed instruction; `slot` = frame * 64 + slot of a register spill/fill, else -1; `cp` marks a checkpoint. */
interface Hist { pc: number; slot: number; depth: number; cp: Checkpoint | null; prev: Hist | null }

export interface VerifyEnv {
  progType: number;
  /** license_is_gpl_compatible(license): GPL-only helpers need it. */
  gplCompatible?: boolean;
  expectedAttachType: number;
  caps: ReadonlySet<string>;
  /** Map referenced by the ld_imm64 at this slot. */
  mapAt: ReadonlyMap<number, BpfMap>;
}

export interface VerifyResult {
  insnProcessed: number;
  stackDepth: number;
}

const COMPLEXITY_LIMIT = 1_000_000;

/** save_register_state(): the first `size` bytes of slot k hold a spilled register, the rest turn MISC (ZERO/INVALID stay). */
function saveSpill(f: Frame, k: number, r: Reg, size: number): void {
  f.spills[k] = { ...r };
  const b = k * 8;
  for (let i = b; i < b + 8; i++) {
    if (i < b + size) f.stype[i] = STACK_SPILL;
    else if (f.stype[i] === STACK_SPILL) f.stype[i] = STACK_MISC;
  }
}

/** A plain write into slot k destroys a spilled register there (its bytes become MISC). */
function scrubSlot(f: Frame, k: number): void {
  if (f.spills[k] === null && f.stype[k * 8] !== STACK_SPILL) return;
  f.spills[k] = null;
  for (let i = k * 8; i < k * 8 + 8; i++) if (f.stype[i] === STACK_SPILL) f.stype[i] = STACK_MISC;
}

function newFrame(regs: Reg[], ret: number): Frame {
  return { regs, stype: new Uint8Array(512), spills: new Array(64).fill(null), ret, depth: 0 };
}

/** coerce_reg_to_size(): a narrow load keeps the range when the high bits agree, else [0, mask]. */
function coerce(r: Reg, size: number): Reg {
  if (size >= 8 || r.t !== 'scalar') return r;
  const mask = (1n << BigInt(size * 8)) - 1n;
  if ((r.umin & ~mask) === (r.umax & ~mask)) return { ...r, umin: r.umin & mask, umax: r.umax & mask, align: Math.min(alignOf(r), size * 8) };
  return { ...r, umin: 0n, umax: mask, align: Math.min(alignOf(r), size * 8) };
}

/** Helpers SK_REUSEPORT / SOCKET_FILTER programs may call here, with their argument kinds. */
type Arg = 'ctx' | 'map' | 'key' | 'value' | 'any' | 'uninit_mem' | 'mem' | 'size' | 'sock_common' | 'unsim';
type Ret = 'int' | 'map_value_or_null' | 'void';
interface Proto { args: Arg[]; ret: Ret; cap?: 'CAP_BPF' | 'CAP_PERFMON' }
const P = (args: Arg[], ret: Ret = 'int', cap?: Proto['cap']): Proto => ({ args, ret, ...(cap ? { cap } : {}) });
const BASE: Record<number, Proto> = {
  1: P(['map', 'key'], 'map_value_or_null'), 2: P(['map', 'key', 'value', 'any']), 3: P(['map', 'key']),
  5: P([]), 7: P([]), 8: P([]), 14: P([]), 15: P([]), 42: P([]), 125: P([]), 208: P([]),
  118: P([], 'int', 'CAP_BPF'),
  12: P(['ctx', 'map', 'any']), 87: P(['map', 'value', 'any']), 88: P(['map', 'value']), 89: P(['map', 'value']),
  195: P(['map', 'key', 'any'], 'map_value_or_null'),
  6: P(['mem', 'size', 'any', 'any', 'any'], 'int', 'CAP_PERFMON'),
  // The rest of the 6.18 base list (bpf_base_func_proto). Arguments that are kernel objects the
  // simulator does not model ('unsim': strings, ringbufs, timers, dynptrs, tasks, ...) are refused
  // with EACCES at load, as Linux refuses wrongly typed arguments; helpers without such arguments run.
  105: P(['unsim']), 106: P(['unsim']), 120: P(['any', 'any', 'unsim']), 130: P(['unsim']), 131: P(['unsim']),
  132: P(['unsim']), 133: P(['unsim']), 134: P(['unsim']), 182: P(['unsim']),
  17: P([], 'int', 'CAP_BPF'), 37: P(['unsim'], 'int', 'CAP_BPF'), 80: P([], 'int', 'CAP_BPF'), 123: P(['any'], 'int', 'CAP_BPF'),
  93: P(['unsim'], 'int', 'CAP_BPF'), 94: P(['unsim'], 'int', 'CAP_BPF'), 153: P(['unsim'], 'int', 'CAP_BPF'), 154: P(['unsim'], 'int', 'CAP_BPF'),
  156: P(['unsim'], 'int', 'CAP_BPF'), 157: P(['unsim'], 'int', 'CAP_BPF'), 164: P(['unsim'], 'int', 'CAP_BPF'),
  169: P(['unsim'], 'int', 'CAP_BPF'), 170: P(['unsim'], 'int', 'CAP_BPF'), 171: P(['unsim'], 'int', 'CAP_BPF'), 172: P(['unsim'], 'int', 'CAP_BPF'),
  181: P(['any', 'unsim'], 'int', 'CAP_BPF'), 194: P(['unsim'], 'int', 'CAP_BPF'), 197: P(['unsim'], 'int', 'CAP_BPF'),
  198: P(['unsim'], 'int', 'CAP_BPF'), 199: P(['unsim'], 'int', 'CAP_BPF'), 200: P(['unsim'], 'int', 'CAP_BPF'), 201: P(['unsim'], 'int', 'CAP_BPF'),
  202: P(['unsim'], 'int', 'CAP_BPF'), 203: P(['unsim'], 'int', 'CAP_BPF'), 209: P(['unsim'], 'int', 'CAP_BPF'), 210: P(['unsim'], 'int', 'CAP_BPF'),
  211: P(['unsim'], 'int', 'CAP_BPF'),
  16: P(['unsim'], 'int', 'CAP_PERFMON'), 22: P(['unsim'], 'int', 'CAP_PERFMON'), 35: P([], 'int', 'CAP_PERFMON'), 55: P(['unsim'], 'int', 'CAP_PERFMON'),
  109: P(['any'], 'int', 'CAP_PERFMON'), 112: P(['unsim'], 'int', 'CAP_PERFMON'), 113: P(['unsim'], 'int', 'CAP_PERFMON'),
  114: P(['unsim'], 'int', 'CAP_PERFMON'), 115: P(['unsim'], 'int', 'CAP_PERFMON'), 117: P(['any'], 'int', 'CAP_PERFMON'),
  141: P(['unsim'], 'int', 'CAP_PERFMON'), 149: P(['unsim'], 'int', 'CAP_PERFMON'), 158: P([], 'int', 'CAP_PERFMON'),
  165: P(['unsim'], 'int', 'CAP_PERFMON'), 175: P(['unsim'], 'int', 'CAP_PERFMON'), 176: P(['unsim'], 'int', 'CAP_PERFMON'),
  177: P(['unsim'], 'int', 'CAP_PERFMON'), 180: P(['unsim'], 'int', 'CAP_PERFMON'),
};
const SK_REUSEPORT_PROTOS: Record<number, Proto> = {
  ...BASE,
  82: P(['ctx', 'map', 'key', 'any']), 26: P(['ctx', 'any', 'uninit_mem', 'size']),
  68: P(['ctx', 'any', 'uninit_mem', 'size', 'any']), 46: P(['sock_common']), 160: P([]),
};
const SOCKET_FILTER_PROTOS: Record<number, Proto> = {
  ...BASE,
  26: P(['ctx', 'any', 'uninit_mem', 'size']), 68: P(['ctx', 'any', 'uninit_mem', 'size', 'any']),
  46: P(['ctx']), 47: P(['ctx']), 160: P([]),
};

/** Helpers with gpl_only = true among those offered here. */
const GPL_ONLY = new Set([6, 35, 112, 113, 114, 115, 158, 165, 176, 177]);

export function helperProto(progType: number, id: number): Proto | undefined {
  if (progType === BPF_PROG_TYPE_XDP) return BASE[id];
  return (progType === BPF_PROG_TYPE_SK_REUSEPORT ? SK_REUSEPORT_PROTOS : SOCKET_FILTER_PROTOS)[id];
}

const fname = (id: number): string => `bpf_${HELPER_NAMES[id] ?? 'unknown'}`;

/** Decode + resolve + check. `bytes`: the program as loaded. */
export function verify(bytes: Uint8Array, env: VerifyEnv, insnsOut?: { insns: Insn[] }): VerifyResult {
  const log: string[] = [];
  const die = (code: ErrnoCode, msg: string): never => {
    log.push(msg);
    throw new VerifierError(code, log.join('\n') + '\n');
  };
  let insns: Insn[];
  try {
    insns = decode(bytes);
  } catch (e) {
    if (e instanceof DecodeError) return die('EINVAL', kernelDecodeMessage(bytes, e));
    throw e;
  }
  if (insnsOut) insnsOut.insns = insns;
  const n = insns.length;
  const v = new Checker(insns, env, die, log);
  v.checkCfg();
  return v.run(n);
}

class Checker {
  private processed = 0;
  private maxDepth = 0;
  private nextId = 1;
  private readonly subprogStarts = new Set<number>([0]);
  /** Prune points (mark_prune_point): conditional jumps, branch and goto targets, insns after calls. */
  private readonly pruneAt = new Set<number>();
  /** explored_states: checkpoints per prune point. */
  private readonly explored = new Map<number, Checkpoint[]>();
  private totalStates = 0;
  private liveStates = 0;
  private peakStates = 0;
  private maxStatesPerInsn = 0;
  private jmps = 0;
  private prevJmps = 0;
  private prevInsns = 0;
  /** Live-in registers per insn (compute_live_registers). */
  private live: Uint16Array = new Uint16Array(0);
  /** Set by mem(): the frame*64+slot a register spill/fill touched (for backtracking), else -1. */
  private lastSlot = -1;

  constructor(
    private readonly insns: Insn[],
    private readonly env: VerifyEnv,
    private readonly die: (code: ErrnoCode, msg: string) => never,
    readonly log: string[],
  ) {}

  private get allowUninitStack(): boolean {
    return this.env.caps.has('CAP_PERFMON') || this.env.caps.has('CAP_SYS_ADMIN');
  }

  /** check_cfg(): targets in range, not into an lddw half, no unreachable code, last insn exit/ja. */
  checkCfg(): void {
    const insns = this.insns;
    const n = insns.length;
    const last = insns[n - 1]!;
    const lastIsJmp = last.lddwHi !== true && (op.cls(last.opcode) === op.BPF_JMP || op.cls(last.opcode) === op.BPF_JMP32) &&
      (op.aluOp(last.opcode) === op.BPF_EXIT || op.aluOp(last.opcode) === op.BPF_JA);
    const reach = new Uint8Array(n);
    const stack = [0];
    reach[0] = 1;
    let intoLddw = -1;
    const edge = (from: number, to: number, prune = to !== from + 1): void => {
      if (to < 0 || to >= n) this.die('EINVAL', `jump out of range from insn ${from} to ${to}`);
      if (prune) this.pruneAt.add(to);
      if (insns[to]!.lddwHi) {
        if (intoLddw < 0) intoLddw = to - 1;
        return;
      }
      if (!reach[to]) { reach[to] = 1; stack.push(to); }
    };
    while (stack.length) {
      const i = stack.pop()!;
      const insn = insns[i]!;
      const c = op.cls(insn.opcode);
      if (op.cls(insn.opcode) === op.BPF_LD && insn.imm64 !== undefined) {
        if (i + 2 > n) this.die('EINVAL', 'last insn is not an exit or jmp');
        if (i + 2 < n) edge(i, i + 2, false);
        else this.die('EINVAL', 'last insn is not an exit or jmp');
        continue;
      }
      if (c === op.BPF_JMP || c === op.BPF_JMP32) {
        const code = op.aluOp(insn.opcode);
        if (code === op.BPF_EXIT) continue;
        if (code === op.BPF_CALL) {
          if (op.srcBit(insn.opcode) === op.BPF_X) this.die('EINVAL', `unknown opcode ${insn.opcode.toString(16)}`);
          if (insn.src === op.BPF_PSEUDO_CALL) {
            const t = i + insn.imm + 1;
            if (t < 0 || t >= n) this.die('EINVAL', `function calls to unknown target ${insn.imm}`);
            this.subprogStarts.add(t);
            edge(i, t);
          } else if (insn.src === op.BPF_PSEUDO_KFUNC_CALL) {
            this.die('EINVAL', 'calling kernel functions is not supported by this simulated kernel');
          }
          if (i + 1 >= n) this.die('EINVAL', 'last insn is not an exit or jmp');
          if (insn.src === op.BPF_PSEUDO_CALL) this.pruneAt.add(i);
          this.pruneAt.add(i + 1);
          edge(i, i + 1);
          continue;
        }
        if (code === op.BPF_JA) {
          const off = c === op.BPF_JMP32 ? insn.imm : insn.off;
          edge(i, i + off + 1);
          continue;
        }
        this.pruneAt.add(i);
        this.pruneAt.add(i + insn.off + 1);
        edge(i, i + insn.off + 1);
        if (i + 1 >= n) this.die('EINVAL', 'last insn is not an exit or jmp');
        edge(i, i + 1);
        continue;
      }
      if (i + 1 >= n) this.die('EINVAL', 'last insn is not an exit or jmp');
      edge(i, i + 1);
    }
    if (!lastIsJmp) this.die('EINVAL', 'last insn is not an exit or jmp');
    for (let i = 0; i < n; i++) if (!reach[i] && !insns[i]!.lddwHi) this.die('EINVAL', `unreachable insn ${i}`);
    if (intoLddw >= 0) this.die('EINVAL', `jump into the middle of ldimm64 insn ${intoLddw}`);
  }

  run(_n: number): VerifyResult {
    this.live = computeLiveRegs(this.insns, (id) => helperProto(this.env.progType, id)?.args.length ?? 5);
    const regs: Reg[] = [];
    for (let r = 0; r <= 10; r++) regs.push({ ...NOT_INIT });
    regs[1] = { ...NOT_INIT, t: 'ctx', off: 0, umin: 0n, umax: 0n };
    regs[10] = { ...NOT_INIT, t: 'fp', off: 0, umin: 0n, umax: 0n, frame: 0 };
    const init: State = { pc: 0, frames: [newFrame(regs, -1)], refs: [], cp: null, hist: null };
    const work: State[] = [init];
    while (work.length) {
      const s = work.pop()!;
      this.walk(s, work);
    }
    return { insnProcessed: this.processed, stackDepth: this.maxDepth };
  }

  /** env->bpf_capable: without it every scalar is precise (no "any value" pruning) and spills of scalars are not tracked. */
  private get bpfCapable(): boolean {
    return this.env.caps.has('CAP_BPF') || this.env.caps.has('CAP_SYS_ADMIN');
  }

  private clone(s: State): State {
    return {
      pc: s.pc,
      frames: s.frames.map((f) => ({ regs: f.regs.map((r) => ({ ...r })), stype: f.stype.slice(), spills: f.spills.map((x) => (x ? { ...x } : null)), ret: f.ret, depth: f.depth })),
      refs: [...s.refs],
      cp: s.cp,
      hist: s.hist,
    };
  }

  /** Fail at instruction pc: the log names it like the kernel's verbose log ("pc: (op) insn"). */
  private at(pc: number, msg: string, code: ErrnoCode = 'EACCES'): never {
    const insn = this.insns[pc]!;
    let text: string;
    try { text = formatInsn(insn, this.insns[pc + 1], undefined, false); } catch { text = '?'; }
    this.log.push(`${pc}: (${insn.opcode.toString(16).padStart(2, '0')}) ${text}`);
    return this.die(code, `${msg}\nprocessed ${this.processed} insns (limit ${COMPLEXITY_LIMIT}) max_states_per_insn ${this.maxStatesPerInsn} total_states ${this.totalStates} peak_states ${this.peakStates} mark_read 0`);
  }

  private walk(s: State, work: State[]): void {
    for (;;) {
      const pc = s.pc;
      if (++this.processed > COMPLEXITY_LIMIT) {
        this.die('E2BIG', `BPF program is too large. Processed ${this.processed} insn\nprocessed ${this.processed} insns (limit ${COMPLEXITY_LIMIT}) max_states_per_insn ${this.maxStatesPerInsn} total_states ${this.totalStates} peak_states ${this.peakStates} mark_read 0`);
      }
      if (this.pruneAt.has(pc) && this.isStateVisited(s)) return;
      this.lastSlot = -1;
      const depth = s.frames.length;
      const step = (next: number): void => { s.hist = { pc, slot: this.lastSlot, depth, cp: null, prev: s.hist }; s.pc = next; };
      const insn = this.insns[pc]!;
      const fr = s.frames[s.frames.length - 1]!;
      const regs = fr.regs;
      const c = op.cls(insn.opcode);
      const readReg = (r: number): Reg => {
        const x = regs[r]!;
        if (x.t === 'not_init') this.at(pc, `R${r} !read_ok`);
        return x;
      };
      const writeReg = (r: number, v: Reg): void => {
        if (r === 10) this.at(pc, 'frame pointer is read only');
        regs[r] = v;
      };
      if (c === op.BPF_ALU || c === op.BPF_ALU64) {
        this.alu(pc, s, insn, regs, readReg, writeReg, c === op.BPF_ALU64);
        step(pc + 1);
        continue;
      }
      if (c === op.BPF_LD) {
        if (insn.imm64 !== undefined) {
          const m = this.env.mapAt.get(pc);
          if (insn.src === 0) writeReg(insn.dst, konst(insn.imm64));
          else if (insn.src === op.BPF_PSEUDO_MAP_FD) writeReg(insn.dst, { ...NOT_INIT, t: 'map_ptr', off: 0, umin: 0n, umax: 0n, map: m! });
          else writeReg(insn.dst, { ...NOT_INIT, t: 'map_value', off: Number(insn.imm64 >> 32n), umin: 0n, umax: 0n, map: m! });
          step(pc + 2);
          continue;
        }
        // ld_abs / ld_ind
        if (this.env.progType !== BPF_PROG_TYPE_SOCKET_FILTER) this.at(pc, 'BPF_LD_[ABS|IND] instructions not allowed for this program type', 'EINVAL');
        if (regs[6]!.t !== 'ctx') this.at(pc, 'at the time of BPF_LD_ABS|IND R6 != pointer to skb', 'EINVAL');
        if (op.ldMode(insn.opcode) === op.BPF_IND) readReg(insn.src);
        for (let r = 1; r <= 5; r++) regs[r] = { ...NOT_INIT };
        regs[0] = unknown();
        step(pc + 1);
        continue;
      }
      if (c === op.BPF_LDX) {
        const base = readReg(insn.src);
        const size = SIZE[op.ldSize(insn.opcode)]!;
        const v = this.mem(pc, s, fr, insn.src, base, insn.off, size, false, null);
        writeReg(insn.dst, v);
        step(pc + 1);
        continue;
      }
      if (c === op.BPF_ST || c === op.BPF_STX) {
        const base = readReg(insn.dst);
        const size = SIZE[op.ldSize(insn.opcode)]!;
        let val: Reg = konst(BigInt(insn.imm));
        if (c === op.BPF_STX) val = readReg(insn.src);
        if (c === op.BPF_STX && op.ldMode(insn.opcode) === op.BPF_ATOMIC) {
          this.mem(pc, s, fr, insn.dst, base, insn.off, size, false, null);
          this.mem(pc, s, fr, insn.dst, base, insn.off, size, true, unknown());
          if (insn.imm & op.BPF_FETCH) writeReg(insn.imm === op.BPF_CMPXCHG ? 0 : insn.src, unknown());
          if (insn.imm === op.BPF_CMPXCHG) readReg(0);
        } else {
          this.mem(pc, s, fr, insn.dst, base, insn.off, size, true, val);
        }
        step(pc + 1);
        continue;
      }
      // jumps
      this.jmps++;
      const code = op.aluOp(insn.opcode);
      if (code === op.BPF_EXIT) {
        if (s.frames.length > 1) {
          const r0 = readReg(0);
          s.frames.pop();
          const caller = s.frames[s.frames.length - 1]!;
          caller.regs[0] = r0.t === 'fp' && r0.frame === s.frames.length ? this.at(pc, 'cannot return stack pointer to the caller') : r0;
          for (let r = 1; r <= 5; r++) caller.regs[r] = { ...NOT_INIT };
          step(fr.ret);
          continue;
        }
        const r0 = regs[0]!;
        if (r0.t === 'not_init') this.at(pc, 'R0 !read_ok');
        if (s.refs.length) this.at(pc, `Unreleased reference id=${s.refs[0]} alloc_insn=${pc}`, 'EINVAL');
        this.pathDone(s);
        return;
      }
      if (code === op.BPF_CALL) {
        if (insn.src === op.BPF_PSEUDO_CALL) {
          if (s.frames.length >= 8) this.at(pc, `the call stack of ${s.frames.length + 1} frames is too deep`, 'E2BIG');
          const callee: Frame = newFrame([], pc + 1);
          for (let r = 0; r <= 10; r++) callee.regs.push(r >= 1 && r <= 5 ? { ...regs[r]! } : { ...NOT_INIT });
          callee.regs[10] = { ...NOT_INIT, t: 'fp', off: 0, umin: 0n, umax: 0n, frame: s.frames.length };
          s.frames.push(callee);
          step(pc + insn.imm + 1);
          continue;
        }
        this.helper(pc, s, fr, insn.imm, readReg);
        step(pc + 1);
        continue;
      }
      if (code === op.BPF_JA) {
        step(pc + (c === op.BPF_JMP32 ? insn.imm : insn.off) + 1);
        continue;
      }
      // conditional
      const dst = readReg(insn.dst);
      const src = op.srcBit(insn.opcode) === op.BPF_X ? readReg(insn.src) : konst(BigInt(insn.imm));
      const is32 = c === op.BPF_JMP32;
      const taken = this.clone(s);
      taken.pc = pc + insn.off + 1;
      const outcome = this.branch(code, dst, src, is32, insn, s, taken);
      const isX = op.srcBit(insn.opcode) === op.BPF_X;
      if (outcome !== 'both' && dst.t === 'scalar') {
        // a branch decided by a scalar's range: that range must stay exact (check_cond_jmp_op -> mark_chain_precision)
        const regsNeeded = isX && src.t === 'scalar' ? [insn.dst, insn.src] : [insn.dst];
        this.demand(outcome === 'taken' ? taken : s, regsNeeded, []);
      }
      step(pc + 1);
      taken.hist = s.hist;
      if (outcome === 'both') {
        if (s.cp) s.cp.branches++;
        work.push(taken);
        continue;
      }
      if (outcome === 'taken') { s.pc = taken.pc; s.frames = taken.frames; s.refs = taken.refs; }
    }
  }

  // ---- state pruning (is_state_visited / states_equal / regsafe) and precision (mark_chain_precision) ----

  /** At a prune point: true when an already verified state covers `s` (the path ends here). */
  private isStateVisited(s: State): boolean {
    const pc = s.pc;
    let addNew = this.jmps - this.prevJmps >= 2 && this.processed - this.prevInsns >= 8;
    const list = this.explored.get(pc) ?? [];
    const statesCnt = list.length;
    for (let i = 0; i < list.length; i++) {
      const sl = list[i]!;
      let evict = false;
      if (sl.branches > 0) {
        // a state still being explored: an exact revisit can only be the same loop going round forever
        if (this.statesMaybeLooping(sl.st, s) && this.statesEqual(sl.st, s, true)) this.at(pc, `infinite loop detected at insn ${pc}`, 'EINVAL');
        // a loop: different iterations rarely help pruning, so checkpoint less often
        if (this.jmps - this.prevJmps < 20 && this.processed - this.prevInsns < 100) addNew = false;
      } else if (this.statesEqual(sl.st, s, false)) {
        sl.hit++;
        this.propagatePrecision(sl.st, s);
        this.pathDone(s);
        return true;
      }
      if (addNew) sl.miss++;
      evict = sl.miss > sl.hit * 3 + 3;
      if (evict) { list.splice(i, 1); i--; this.liveStates--; }
    }
    if (statesCnt > this.maxStatesPerInsn) this.maxStatesPerInsn = statesCnt;
    if (!this.bpfCapable && list.length > 64) addNew = false;
    if (!addNew) return false;
    const cp: Checkpoint = { st: this.clone(s), parent: s.cp, branches: 1, hit: 0, miss: 0 };
    // the checkpoint is compared and marked, never walked: it keeps no path history alive
    cp.st.hist = null;
    cp.st.cp = null;
    list.push(cp);
    this.totalStates++;
    if (++this.liveStates > this.peakStates) this.peakStates = this.liveStates;
    this.explored.set(pc, list);
    this.prevJmps = this.jmps;
    this.prevInsns = this.processed;
    s.cp = cp;
    s.hist = { pc: -1, slot: -1, depth: s.frames.length, cp, prev: s.hist };
    // mark_all_scalars_imprecise(): precision is learnt anew below the checkpoint
    if (this.bpfCapable) {
      for (const f of s.frames) {
        for (const r of f.regs) if (r.precise) r.precise = false;
        for (const r of f.spills) if (r?.precise) r.precise = false;
      }
    }
    return false;
  }

  /** update_branch_counts(): a path ended; checkpoints whose every path ended become prunable. */
  private pathDone(s: State): void {
    for (let cp = s.cp; cp; cp = cp.parent) if (--cp.branches > 0) break;
  }

  /** assign_scalar_id_before_mov(): copies of one unknown scalar share an id. */
  private assignScalarId(r: Reg): void {
    if (r.t !== 'scalar') return;
    if (r.id & ADD_CONST) { r.id = 0; r.off = 0; }
    if (!r.id && !isConst(r)) r.id = this.nextId++;
  }

  /** states_maybe_looping(): same call chain and bit-identical registers in the current frame (ids included). */
  private statesMaybeLooping(a: State, b: State): boolean {
    if (!this.sameCallsites(a, b)) return false;
    const x = a.frames[a.frames.length - 1]!.regs, y = b.frames[b.frames.length - 1]!.regs;
    for (let r = 0; r <= 10; r++) {
      const p = x[r]!, q = y[r]!;
      if (p.t !== q.t || p.umin !== q.umin || p.umax !== q.umax || p.off !== q.off || p.id !== q.id || p.map !== q.map || p.frame !== q.frame || (p.range ?? 0) !== (q.range ?? 0)) return false;
    }
    return true;
  }

  private sameCallsites(a: State, b: State): boolean {
    if (a.frames.length !== b.frames.length) return false;
    for (let i = 0; i < a.frames.length; i++) if (a.frames[i]!.ret !== b.frames[i]!.ret) return false;
    return true;
  }

  private statesEqual(old: State, cur: State, exact: boolean): boolean {
    if (!this.sameCallsites(old, cur) || old.refs.length !== cur.refs.length) return false;
    const idmap = new Map<number, number>();
    const seenCur = new Set<number>();
    const ids = (a: number, b: number): boolean => {
      if (!a !== !b) return false;
      if (!a) return true;
      const m = idmap.get(a);
      if (m !== undefined) return m === b;
      if (seenCur.has(b)) return false;
      idmap.set(a, b); seenCur.add(b);
      return true;
    };
    const nf = old.frames.length;
    for (let f = 0; f < nf; f++) {
      const of = old.frames[f]!, cf = cur.frames[f]!;
      const live = this.live[f === nf - 1 ? old.pc : old.frames[f + 1]!.ret] ?? 0xffff;
      for (let r = 0; r <= 10; r++) {
        if (!exact && r < 10 && !(live & (1 << r))) continue;
        if (!this.regsafe(of.regs[r]!, cf.regs[r]!, exact, ids)) return false;
      }
      if (!this.stacksafe(of, cf, exact, ids)) return false;
    }
    for (let i = 0; i < old.refs.length; i++) if (!ids(old.refs[i]!, cur.refs[i]!)) return false;
    return true;
  }

  private regsafe(o: Reg, c: Reg, exact: boolean, ids: (a: number, b: number) => boolean): boolean {
    if (o.t === 'not_init') return !exact || c.t === 'not_init';
    if (o.t !== c.t) return false;
    if (o.t === 'scalar') {
      if (exact) return o.umin === c.umin && o.umax === c.umax && alignOf(o) === alignOf(c) && ids(o.id, c.id);
      if (!o.precise && this.bpfCapable) return true;
      return o.umin <= c.umin && c.umax <= o.umax && alignOf(o) <= alignOf(c);
    }
    if (o.off !== c.off || o.map !== c.map || o.frame !== c.frame) return false;
    if (exact ? o.umin !== c.umin || o.umax !== c.umax || (o.range ?? 0) !== (c.range ?? 0) : o.umin > c.umin || c.umax > o.umax || (o.range ?? 0) > (c.range ?? 0)) return false;
    if (o.umax !== 0n && (o.align ?? 0) > (c.align ?? 0)) return false;
    return ids(o.id, c.id);
  }

  /** stacksafe(): byte by byte, spilled registers with regsafe(). */
  private stacksafe(o: Frame, c: Frame, exact: boolean, ids: (a: number, b: number) => boolean): boolean {
    const lo = 512 - ((Math.max(o.depth, c.depth) + 7) & ~7);
    const allMisc = (f: Frame, k: number): boolean => { for (let i = k * 8; i < k * 8 + 8; i++) if (f.stype[i] !== STACK_MISC) return false; return true; };
    const scalarOf = (f: Frame, k: number): Reg | null => {
      const sp = f.spills[k];
      if (f.stype[k * 8] === STACK_SPILL && sp && sp.t === 'scalar' && f.stype[k * 8 + 7] === STACK_SPILL) return sp;
      return allMisc(f, k) ? unknown() : null;
    };
    for (let k = lo >> 3; k < 64; k++) {
      const b = k * 8;
      if (exact) {
        for (let i = b; i < b + 8; i++) if (o.stype[i] !== c.stype[i]) return false;
        if (o.stype[b] === STACK_SPILL && !this.regsafe(o.spills[k]!, c.spills[k]!, true, ids)) return false;
        continue;
      }
      const os = scalarOf(o, k), cs = scalarOf(c, k);
      if (os && cs && !(os.t === 'scalar' && cs.t === 'scalar' && allMisc(o, k) && allMisc(c, k))) {
        if (!this.regsafe(os, cs, false, ids)) return false;
        continue;
      }
      for (let i = b; i < b + 8; i++) {
        const ot = o.stype[i]!, ct = c.stype[i]!;
        if (ot === STACK_INVALID) continue;
        if (this.allowUninitStack && ot === STACK_MISC) continue;
        if (ot === STACK_MISC && ct === STACK_ZERO) continue;
        if (ot !== ct) return false;
      }
      if (o.stype[b] === STACK_SPILL && !this.regsafe(o.spills[k]!, c.spills[k]!, false, ids)) return false;
    }
    return true;
  }

  /** propagate_precision(): what the verified state needed exact, the pruned path needs exact too. */
  private propagatePrecision(old: State, cur: State): void {
    const top = old.frames.length - 1;
    const regs: number[] = [];
    const slots: number[] = [];
    for (let f = 0; f <= top; f++) {
      const of = old.frames[f]!;
      for (let r = 0; r < 10; r++) {
        if (!of.regs[r]!.precise || of.regs[r]!.t !== 'scalar') continue;
        if (f === top) regs.push(r); else { this.markAllPrecise(cur); return; }
      }
      for (let k = 0; k < 64; k++) if (of.spills[k]?.precise && of.stype[k * 8] === STACK_SPILL) slots.push(f * 64 + k);
    }
    if (regs.length || slots.length) this.demand(cur, regs, slots);
  }

  /**
   * mark_chain_precision(): registers `regs` (top frame) and stack slots `slots` (frame*64+slot) of
   * `s` must keep exact ranges: walk the path back, through the instructions that produced them,
   * marking them precise in every checkpoint on the way (so later pruning against those
   * checkpoints compares ranges instead of treating the scalars as "any value").
   */
  private demand(s: State, regs: number[], slots: number[]): void {
    const top = s.frames[s.frames.length - 1]!;
    const R = new Set<number>(), S = new Set<number>();
    for (const r of regs) { const x = top.regs[r]!; if (x.t === 'scalar') { x.precise = true; R.add(r); } }
    for (const k of slots) { const x = s.frames[k >> 6]?.spills[k & 63]; if (x && x.t === 'scalar') { x.precise = true; S.add(k); } }
    let depth = s.frames.length;
    for (let h = s.hist; h && (R.size || S.size); h = h.prev) {
      if (h.cp) {
        const st = h.cp.st;
        const f = st.frames[st.frames.length - 1]!;
        let changed = false;
        for (const r of R) { const x = f.regs[r]!; if (x.t === 'scalar' && !x.precise) { x.precise = true; changed = true; } }
        for (const k of S) { const x = st.frames[k >> 6]?.spills[k & 63]; if (x && x.t === 'scalar' && !x.precise) { x.precise = true; changed = true; } }
        if (!changed) return;
        continue;
      }
      if (h.depth !== depth) { this.markAllPreciseFrom(h); return; }
      const insn = this.insns[h.pc]!;
      const c = op.cls(insn.opcode);
      const isX = op.srcBit(insn.opcode) === op.BPF_X;
      if (c === op.BPF_ALU || c === op.BPF_ALU64) {
        const code = op.aluOp(insn.opcode);
        if (code === op.BPF_MOV) { if (R.delete(insn.dst) && isX) R.add(insn.src); }
        else if (code !== op.BPF_NEG && code !== op.BPF_END && isX && R.has(insn.dst)) R.add(insn.src);
      } else if (c === op.BPF_LDX) {
        if (R.delete(insn.dst) && h.slot >= 0) S.add(h.slot);
      } else if (c === op.BPF_ST || c === op.BPF_STX) {
        if (h.slot >= 0 && S.delete(h.slot) && c === op.BPF_STX) R.add(insn.src);
      } else if (c === op.BPF_LD) {
        if (insn.imm64 !== undefined) R.delete(insn.dst);
        else for (let r = 0; r <= 5; r++) R.delete(r);
      } else {
        const code = op.aluOp(insn.opcode);
        if (code === op.BPF_CALL) {
          if (insn.src === op.BPF_PSEUDO_CALL) { this.markAllPreciseFrom(h); return; }
          for (let r = 0; r <= 5; r++) R.delete(r);
        } else if (code === op.BPF_EXIT) {
          this.markAllPreciseFrom(h); return;
        } else if (code !== op.BPF_JA && isX && (R.has(insn.dst) || R.has(insn.src))) {
          R.add(insn.dst); R.add(insn.src);
        }
      }
      depth = h.depth;
    }
  }

  /** The fallback across bpf-to-bpf calls: every scalar in every earlier checkpoint becomes precise. */
  private markAllPreciseFrom(h: Hist | null): void {
    for (; h; h = h.prev) if (h.cp) this.markAllPrecise(h.cp.st);
  }

  private markAllPrecise(st: State): void {
    for (const f of st.frames) {
      for (const r of f.regs) if (r.t === 'scalar') r.precise = true;
      for (const r of f.spills) if (r && r.t === 'scalar') r.precise = true;
    }
  }

  /** Refine both branches; returns which are feasible ('both' | 'taken' | 'fall'). */
  private branch(code: number, dst: Reg, src: Reg, is32: boolean, insn: Insn, fall: State, taken: State): 'both' | 'taken' | 'fall' {
    const fr = (s: State): Reg[] => s.frames[s.frames.length - 1]!.regs;
    // NULL checks: if rX == 0 / != 0 on a maybe-NULL pointer
    const nullable = (t: T): boolean => t.endsWith('_or_null');
    if (nullable(dst.t) && isConst(src) && src.umin === 0n && (code === op.BPF_JEQ || code === op.BPF_JNE)) {
      const isNull = code === op.BPF_JEQ ? taken : fall;
      const notNull = code === op.BPF_JEQ ? fall : taken;
      this.markNull(isNull, dst.id, true);
      this.markNull(notNull, dst.id, false);
      return 'both';
    }
    // a pointer that cannot be NULL compared with 0: only one branch is possible (is_branch_taken)
    const notNull = dst.t === 'sock' || dst.t === 'sock_common' || dst.t === 'map_value' || dst.t === 'map_ptr';
    if (notNull && isConst(src) && src.umin === 0n && (code === op.BPF_JEQ || code === op.BPF_JNE)) {
      return code === op.BPF_JEQ ? 'fall' : 'taken';
    }
    // packet range from comparisons with pkt_end
    if ((dst.t === 'pkt' && src.t === 'pkt_end') || (dst.t === 'pkt_end' && src.t === 'pkt')) {
      const p = dst.t === 'pkt' ? dst : src;
      const c = p.off;
      const pktFirst = dst.t === 'pkt';
      let fallR = -1, takenR = -1;
      if (pktFirst) {
        if (code === op.BPF_JGT) fallR = c; else if (code === op.BPF_JGE) fallR = c + 1;
        else if (code === op.BPF_JLT) takenR = c + 1; else if (code === op.BPF_JLE) takenR = c;
      } else {
        if (code === op.BPF_JGT) takenR = c + 1; else if (code === op.BPF_JGE) takenR = c;
        else if (code === op.BPF_JLT) fallR = c; else if (code === op.BPF_JLE) fallR = c + 1;
      }
      // find_good_pkt_pointers(): every packet pointer with this id learns the range
      const mark = (st: State, range: number): void => {
        if (range < 0 || c < 0) return;
        for (const f of st.frames) {
          for (const r of f.regs) if (r.t === 'pkt' && r.id === p.id && (r.range ?? 0) < range) r.range = range;
          for (const r of f.spills) if (r && r.t === 'pkt' && r.id === p.id && (r.range ?? 0) < range) r.range = range;
        }
      };
      mark(fall, fallR);
      mark(taken, takenR);
      return 'both';
    }
    if (dst.t !== 'scalar' || src.t !== 'scalar') return 'both';
    // scalar comparisons: decide constant outcomes, refine unsigned ranges
    const mask = is32 ? 0xffffffffn : U64_MAX;
    const signed = code === op.BPF_JSGT || code === op.BPF_JSGE || code === op.BPF_JSLT || code === op.BPF_JSLE;
    if (isConst(dst) && isConst(src)) {
      const a = dst.umin & mask, b = src.umin & mask;
      const sa = is32 ? BigInt.asIntN(32, a) : BigInt.asIntN(64, a), sb = is32 ? BigInt.asIntN(32, b) : BigInt.asIntN(64, b);
      let r: boolean;
      switch (code) {
        case op.BPF_JEQ: r = a === b; break;
        case op.BPF_JNE: r = a !== b; break;
        case op.BPF_JGT: r = a > b; break;
        case op.BPF_JGE: r = a >= b; break;
        case op.BPF_JLT: r = a < b; break;
        case op.BPF_JLE: r = a <= b; break;
        case op.BPF_JSET: r = (a & b) !== 0n; break;
        case op.BPF_JSGT: r = sa > sb; break;
        case op.BPF_JSGE: r = sa >= sb; break;
        case op.BPF_JSLT: r = sa < sb; break;
        default: r = sa <= sb; break;
      }
      return r ? 'taken' : 'fall';
    }
    if (is32 || signed || !isConst(src) || op.srcBit(insn.opcode) === op.BPF_X && insn.dst === insn.src) return 'both';
    const k = src.umin;
    const refine = (s: State, lo: bigint, hi: bigint): boolean => {
      const r = fr(s)[insn.dst]!;
      const nlo = r.umin > lo ? r.umin : lo, nhi = r.umax < hi ? r.umax : hi;
      if (nlo > nhi) return false;
      const known: Reg = { ...r, umin: nlo, umax: nhi };
      fr(s)[insn.dst] = known;
      if (known.id && this.bpfCapable) this.syncLinkedRegs(s, known);
      return true;
    };
    let tOk = true, fOk = true;
    switch (code) {
      case op.BPF_JEQ: tOk = refine(taken, k, k); break;
      case op.BPF_JNE: fOk = refine(fall, k, k); break;
      case op.BPF_JGT: tOk = k < U64_MAX && refine(taken, k + 1n, U64_MAX); fOk = refine(fall, 0n, k); break;
      case op.BPF_JGE: tOk = refine(taken, k, U64_MAX); fOk = k > 0n && refine(fall, 0n, k - 1n); break;
      case op.BPF_JLT: tOk = k > 0n && refine(taken, 0n, k - 1n); fOk = refine(fall, k, U64_MAX); break;
      case op.BPF_JLE: tOk = refine(taken, 0n, k); fOk = k < U64_MAX && refine(fall, k + 1n, U64_MAX); break;
    }
    if (tOk && fOk) return 'both';
    return tOk ? 'taken' : 'fall';
  }

  /** sync_linked_regs(): copies of a refined scalar (same id, maybe plus a constant) learn its new range. */
  private syncLinkedRegs(s: State, known: Reg): void {
    const base = known.id & ~ADD_CONST;
    const linked = (r: Reg | null): Reg | null => {
      if (!r || r === known || r.t !== 'scalar' || (r.id & ~ADD_CONST) !== base) return r;
      if ((!(r.id & ADD_CONST) && !(known.id & ADD_CONST)) || r.off === known.off) return { ...known, precise: r.precise };
      const delta = BigInt.asUintN(64, BigInt(r.off - known.off));
      const lo = known.umin + delta, hi = known.umax + delta;
      const shifted = lo > U64_MAX || hi > U64_MAX ? { umin: 0n, umax: U64_MAX } : { umin: lo, umax: hi };
      return { ...known, ...shifted, off: r.off, align: Math.min(alignOf(known), tz(BigInt(r.off - known.off))), precise: r.precise };
    };
    for (const f of s.frames) {
      f.regs = f.regs.map((r) => linked(r)!);
      f.spills = f.spills.map(linked);
    }
  }

  private markNull(s: State, id: number, isNull: boolean): void {
    for (const f of s.frames) {
      const fix = (r: Reg): Reg => {
        if (r.id !== id || !r.t.endsWith('_or_null')) return r;
        if (isNull) return konst(0n);
        return { ...r, t: r.t.replace('_or_null', '') as T };
      };
      f.regs = f.regs.map(fix);
      f.spills = f.spills.map((x) => (x ? fix(x) : null));
    }
    if (isNull) s.refs = s.refs.filter((r) => r !== id);
  }

  private alu(pc: number, st: State, insn: Insn, regs: Reg[], readReg: (r: number) => Reg, writeReg: (r: number, v: Reg) => void, is64: boolean): void {
    const code = op.aluOp(insn.opcode);
    const x = op.srcBit(insn.opcode) === op.BPF_X;
    if (code === op.BPF_END || code === op.BPF_NEG) {
      const d = readReg(insn.dst);
      if (d.t !== 'scalar') this.at(pc, `R${insn.dst} pointer arithmetic prohibited`);
      writeReg(insn.dst, unknown());
      return;
    }
    if (code === op.BPF_MOV) {
      if (x) {
        const s = readReg(insn.src);
        if (!is64 || insn.off !== 0) {
          if (s.t !== 'scalar') {
            if (!is64) { writeReg(insn.dst, unknown()); return; }
            this.at(pc, `R${insn.src} sign-extension part of pointer`);
          }
          if (insn.off === 0 && s.umax <= 0xffffffffn) {
            // a value that fits 32 bits: the copy is the same value, linked by id (sync_linked_regs)
            this.assignScalarId(s);
            writeReg(insn.dst, { ...s });
            return;
          }
          writeReg(insn.dst, isConst(s) && insn.off === 0 ? konst(s.umin & 0xffffffffn) : (insn.off === 0 ? { ...unknown(), umax: 0xffffffffn } : unknown()));
          return;
        }
        this.assignScalarId(s);
        writeReg(insn.dst, { ...s });
        return;
      }
      writeReg(insn.dst, is64 ? konst(BigInt(insn.imm)) : konst(BigInt(insn.imm >>> 0)));
      return;
    }
    if (!x && insn.imm === 0 && (code === op.BPF_DIV || code === op.BPF_MOD)) this.at(pc, 'div by zero', 'EINVAL');
    const d = readReg(insn.dst);
    const s = x ? readReg(insn.src) : konst(BigInt(insn.imm));
    if (d.t !== 'scalar' || s.t !== 'scalar') {
      if (!is64) this.at(pc, `R${d.t !== 'scalar' ? insn.dst : insn.src} 32-bit pointer arithmetic prohibited`);
      writeReg(insn.dst, this.ptrArith(pc, insn, code, d, s, st));
      return;
    }
    const mask = is64 ? U64_MAX : 0xffffffffn;
    if (isConst(d) && isConst(s)) {
      const a = d.umin & mask, b = s.umin & mask;
      let r: bigint | null = null;
      const sh = b & (is64 ? 63n : 31n);
      switch (code) {
        case op.BPF_ADD: r = a + b; break;
        case op.BPF_SUB: r = a - b; break;
        case op.BPF_MUL: r = a * b; break;
        case op.BPF_DIV: r = insn.off === 1 ? null : b === 0n ? 0n : a / b; break;
        case op.BPF_MOD: r = insn.off === 1 ? null : b === 0n ? a : a % b; break;
        case op.BPF_OR: r = a | b; break;
        case op.BPF_AND: r = a & b; break;
        case op.BPF_XOR: r = a ^ b; break;
        case op.BPF_LSH: r = a << sh; break;
        case op.BPF_RSH: r = a >> sh; break;
        case op.BPF_ARSH: r = null; break;
      }
      writeReg(insn.dst, r === null ? unknown() : konst(r & mask));
      return;
    }
    // rX += const keeps a link to rX's copies (BPF_ADD_CONST); any other operation breaks it
    const k32 = isConst(s) && BigInt.asIntN(64, s.umin) >= -(1n << 31n) && BigInt.asIntN(64, s.umin) < (1n << 31n);
    const linkId = is64 && code === op.BPF_ADD && d.id !== 0 && k32 && this.bpfCapable ? (d.id & ADD_CONST ? 0 : d.id | ADD_CONST) : 0;
    // ranges: enough for "idx &= mask", "idx %= n", "x >>= k" and small additions
    let lo = 0n, hi = mask;
    if (code === op.BPF_AND && isConst(s)) hi = s.umin & mask;
    else if (code === op.BPF_AND && isConst(d)) hi = d.umin & mask;
    else if (code === op.BPF_MOD && isConst(s) && s.umin !== 0n && insn.off === 0) hi = (s.umin & mask) - 1n;
    else if (code === op.BPF_RSH && isConst(s)) { const sh = s.umin & (is64 ? 63n : 31n); lo = (d.umin & mask) >> sh; hi = (d.umax > mask ? mask : d.umax) >> sh; }
    else if (code === op.BPF_ADD && d.umax <= mask && s.umax <= mask && d.umax + s.umax <= mask) { lo = d.umin + s.umin; hi = d.umax + s.umax; }
    else if (code === op.BPF_DIV && isConst(s) && s.umin !== 0n && insn.off === 0 && d.umax <= mask) hi = d.umax / s.umin;
    if (!is64 && hi > 0xffffffffn) hi = 0xffffffffn;
    let align = 0;
    if (code === op.BPF_AND) align = Math.max(alignOf(d), alignOf(s));
    else if (code === op.BPF_LSH && isConst(s)) align = alignOf(d) + Number(s.umin & 63n);
    else if (code === op.BPF_MUL && isConst(s)) align = alignOf(d) + tz(s.umin);
    else if (code === op.BPF_ADD || code === op.BPF_SUB || code === op.BPF_OR || code === op.BPF_XOR) align = Math.min(alignOf(d), alignOf(s));
    if (code === op.BPF_LSH && isConst(s) && d.umax <= mask) { const sh = s.umin & 63n; if ((d.umax << sh) <= mask) { lo = d.umin << sh; hi = d.umax << sh; } }
    writeReg(insn.dst, { ...unknown(), umin: lo, umax: hi, align: Math.min(align, 16), id: linkId, off: linkId ? Number(BigInt.asIntN(64, s.umin)) : 0 });
  }

  private ptrArith(pc: number, insn: Insn, code: number, d: Reg, s: Reg, st: State): Reg {
    const names: Record<number, string> = { [op.BPF_ADD]: '+=', [op.BPF_SUB]: '-=' };
    if (d.t !== 'scalar' && s.t !== 'scalar') {
      // allow_ptr_leaks (CAP_PERFMON): pointer - pointer is an unknown scalar
      if (code === op.BPF_SUB && (this.env.caps.has('CAP_PERFMON') || this.env.caps.has('CAP_SYS_ADMIN'))) return unknown();
      return this.at(pc, `R${insn.dst} pointer ${names[code] ?? 'op'} pointer prohibited`);
    }
    const ptr = d.t !== 'scalar' ? d : s;
    const sc = d.t !== 'scalar' ? s : d;
    if (code !== op.BPF_ADD && !(code === op.BPF_SUB && d.t !== 'scalar')) {
      return this.at(pc, `R${insn.dst} ${code === op.BPF_AND || code === op.BPF_OR || code === op.BPF_XOR ? 'bitwise operator' : 'pointer arithmetic with'} ${OPNAME[code] ?? 'op'} ${code === op.BPF_AND || code === op.BPF_OR || code === op.BPF_XOR ? 'on pointer' : 'operator'} prohibited`);
    }
    if (ptr.t === 'map_ptr' || ptr.t === 'pkt_end' || ptr.t.endsWith('_or_null') || ptr.t === 'sock' || ptr.t === 'sock_common') {
      return this.at(pc, `R${insn.dst} pointer arithmetic on ${ptr.t} prohibited${ptr.t.endsWith('_or_null') ? ', null-check it first' : ''}`);
    }
    const neg = code === op.BPF_SUB;
    // the pointer's new offset depends on the scalar's exact range (adjust_ptr_min_max_vals)
    if (op.srcBit(insn.opcode) === op.BPF_X) this.demand(st, [d.t !== 'scalar' ? insn.src : insn.dst], []);
    if (isConst(sc)) {
      const k = BigInt.asIntN(64, sc.umin);
      if (k > 1n << 29n || k < -(1n << 29n)) return this.at(pc, `R${insn.dst} pointer arithmetic with out-of-range offset`);
      return { ...ptr, off: ptr.off + (neg ? -Number(k) : Number(k)) };
    }
    if (ptr.t === 'ctx') return this.at(pc, `R${insn.dst} variable ctx access prohibited`);
    if (neg) return this.at(pc, `R${insn.dst} tried to subtract pointer from scalar`);
    // a variable part: bounds are checked at the access; packet pointers get a new id (their range restarts)
    const r: Reg = { ...ptr, off: ptr.off + Number(sc.umin), umax: ptr.umax + sc.umax - sc.umin, align: Math.min(ptr.umax === 0n ? 16 : ptr.align ?? 0, alignOf(sc)) };
    if (ptr.t === 'pkt') { r.id = this.nextId++; r.off = 0; r.range = 0; }
    return r;
  }

  /** A load (write=false) or store through `base`+off of `size` bytes. Returns the loaded value. */
  private mem(pc: number, s: State, fr: Frame, regno: number, base: Reg, off: number, size: number, write: boolean, val: Reg | null): Reg {
    const total = base.off + off;
    const varLen = Number(base.umax);
    switch (base.t) {
      case 'ctx': {
        if (base.off !== 0) return this.at(pc, `dereference of modified ctx ptr R${regno} off=${base.off} disallowed`);
        if (this.env.progType === BPF_PROG_TYPE_SK_REUSEPORT) {
          const t = skReuseportAccess(off, size, write);
          if (t === null) return this.at(pc, `invalid bpf_context access off=${off} size=${size}`);
          if (t === 'scalar') return size === 4 ? { ...unknown(), umax: 0xffffffffn } : { ...unknown(), umax: (1n << BigInt(size * 8)) - 1n };
          if (t === 'sock_common_or_null') return { ...NOT_INIT, t, umin: 0n, umax: 0n, id: this.nextId++ };
          return { ...NOT_INIT, t, umin: 0n, umax: 0n };
        }
        if (this.env.progType === BPF_PROG_TYPE_XDP) {
          // struct xdp_md: u32 fields, read-only; data/data_end/data_meta are packet pointers
          if (write || off < 0 || off >= 24 || off % size !== 0 || size !== 4) return this.at(pc, `invalid bpf_context access off=${off} size=${size}`);
          if (off === 0 || off === 8) return { ...NOT_INIT, t: 'pkt', umin: 0n, umax: 0n, range: 0 };
          if (off === 4) return { ...NOT_INIT, t: 'pkt_end', umin: 0n, umax: 0n };
          return { ...unknown(), umax: 0xffffffffn };
        }
        if (!skFilterAccess(off, size, write)) return this.at(pc, `invalid bpf_context access off=${off} size=${size}`);
        return unknown();
      }
      case 'fp': {
        const frame = s.frames[base.frame]!;
        if (base.umax !== 0n) {
          // variable-offset stack access (privileged): aligned for every value, every byte inside the frame
          const varOff = tnumMask(base.umax, base.align ?? 0);
          if (size > 1 && (total % size !== 0 || (1 << Math.min(base.align ?? 0, 16)) < size)) {
            return this.at(pc, `misaligned stack access off ${varOff}+${base.off}+${off} size ${size}`);
          }
          const hi = total + Number(base.umax);
          if (total < -512 || hi + size > 0) {
            return this.at(pc, `invalid variable-offset ${write ? 'write to' : 'read from'} stack R${regno} var_off=${varOff} off=${total} size=${size}`, total >= 0 || total < -512 ? 'EACCES' : 'EINVAL');
          }
          const o = 512 + total, e = 512 + hi + size;
          frame.depth = Math.max(frame.depth, -total);
          this.trackDepth(s);
          if (write) {
            // check_stack_write_var_off: spills in range are destroyed, bytes become MISC (ZERO for a zero)
            const zero = val !== null && isConst(val) && val.umin === 0n;
            for (let k = o >> 3; k <= (e - 1) >> 3; k++) scrubSlot(frame, k);
            frame.stype.fill(zero ? STACK_ZERO : STACK_MISC, o, e);
            return NOT_INIT;
          }
          for (let i = o; i < e; i++) if (frame.stype[i] === STACK_INVALID && !this.allowUninitStack) return this.at(pc, `invalid variable-offset read from stack R${regno}`);
          return coerce(unknown(), size);
        }
        // stack accesses are always strictly aligned (check_ptr_alignment, before the bounds)
        if (total % size !== 0) return this.at(pc, `misaligned stack access off 0+${base.off}+${off} size ${size}`);
        if (total < -512 || total + size > 0) return this.at(pc, `invalid ${write ? 'write to' : 'read from'} stack R${regno} off=${total} size=${size}`, total >= 0 || total < -512 ? 'EACCES' : 'EINVAL');
        const o = 512 + total;
        const k = o >> 3;
        const slotStart = (o & 7) === 0;
        frame.depth = Math.max(frame.depth, -total);
        this.trackDepth(s);
        if (write) {
          // check_stack_write_fixed_off(): a scalar written at the start of a slot is a spill of
          // `size` bytes that keeps its range (bpf_capable); pointers spill only whole
          const isSt = op.cls(this.insns[pc]!.opcode) === op.BPF_ST;
          if (val && val.t === 'scalar' && slotStart && this.bpfCapable) {
            const fits = size === 8 || val.umax < 1n << BigInt(size * 8);
            if (fits && !isSt) this.assignScalarId(val);
            saveSpill(frame, k, isSt ? { ...val, precise: false } : fits ? val : { ...val, id: 0 }, size);
            this.lastSlot = base.frame * 64 + k;
          } else if (val && val.t !== 'scalar' && val.t !== 'not_init') {
            if (size !== 8) return this.at(pc, `invalid size of register spill`);
            saveSpill(frame, k, val, 8);
            this.lastSlot = base.frame * 64 + k;
          } else {
            scrubSlot(frame, k);
            frame.stype.fill(val && isConst(val) && val.umin === 0n ? STACK_ZERO : STACK_MISC, o, o + size);
          }
          return NOT_INIT;
        }
        // check_stack_read_fixed_off()
        const bad = (i: number): never => this.at(pc, `invalid read from stack off ${total}+${i - o} size ${size}`);
        if (frame.stype[k * 8] === STACK_SPILL) {
          const sp = frame.spills[k]!;
          let spillSize = 1;
          while (spillSize < 8 && frame.stype[k * 8 + spillSize] === STACK_SPILL) spillSize++;
          if (size === 8 && spillSize === 8) { this.lastSlot = base.frame * 64 + k; return { ...sp }; }
          if (sp.t !== 'scalar') return this.at(pc, `invalid size of register fill`);
          if (size <= spillSize && slotStart) {
            this.lastSlot = base.frame * 64 + k;
            if (size === 4 && spillSize === 4 && sp.umax <= 0xffffffffn) this.assignScalarId(sp);
            // a narrowing fill breaks the link to the spilled value's copies
            return coerce({ ...sp, id: sp.umax < 1n << BigInt(size * 8) ? sp.id : 0 }, size);
          }
          let spillCnt = 0, zeroCnt = 0;
          for (let i = o; i < o + size; i++) {
            const t = frame.stype[i]!;
            if (t === STACK_SPILL) spillCnt++;
            else if (t === STACK_ZERO) zeroCnt++;
            else if (t !== STACK_MISC && !(t === STACK_INVALID && this.allowUninitStack)) return bad(i);
          }
          if ((spillCnt === size && isConst(sp) && sp.umin === 0n) || zeroCnt === size) return konst(0n);
          return coerce(unknown(), size);
        }
        let zeros = 0;
        for (let i = o; i < o + size; i++) {
          const t = frame.stype[i]!;
          if (t === STACK_ZERO) zeros++;
          else if (t !== STACK_MISC && !(t === STACK_INVALID && this.allowUninitStack)) return bad(i);
        }
        return zeros === size ? konst(0n) : coerce(unknown(), size);
      }
      case 'pkt': {
        if (write && this.env.progType !== BPF_PROG_TYPE_XDP) return this.at(pc, `cannot write into packet`);
        const range = base.range ?? 0;
        if (total < 0 || total + size > range) {
          return this.at(pc, `invalid access to packet, off=${total} size=${size}, R${regno}(id=${base.id},off=${base.off},r=${range})\nR${regno} offset is outside of the packet`);
        }
        return { ...unknown(), umax: (1n << BigInt(size * 8)) - 1n };
      }
      case 'map_value': {
        const m = base.map!;
        if (write && m.mapFlags & BPF_F_RDONLY_PROG) return this.at(pc, `write into map forbidden, value_size=${m.valueSize} off=${total} size=${size}`);
        if (!write && m.mapFlags & BPF_F_WRONLY_PROG) return this.at(pc, `read from map forbidden, value_size=${m.valueSize} off=${total} size=${size}`);
        if (total < 0 || total + size + varLen > m.valueSize) return this.at(pc, `invalid access to map value, value_size=${m.valueSize} off=${total} size=${size}\nR${regno} min value is outside of the allowed memory range`);
        return write ? NOT_INIT : (size === 8 ? unknown() : { ...unknown(), umax: (1n << BigInt(size * 8)) - 1n });
      }
      case 'sock':
      case 'sock_common': {
        const common = base.t === 'sock_common';
        if (write) return this.at(pc, `cannot write into sock`);
        if (base.off !== 0 || !bpfSockAccess(off, size, false, common)) return this.at(pc, `R${regno} invalid ${common ? 'sock_common' : 'sock'} access off=${total} size=${size}`);
        return { ...unknown(), umax: 0xffffffffn };
      }
      default:
        return this.at(pc, `R${regno} invalid mem access '${base.t}'`);
    }
  }

  private trackDepth(s: State): void {
    let total = 0;
    // JIT is always on: each frame rounds up to 16 bytes (round_up_stack_depth)
    for (const f of s.frames) total += (f.depth + 15) & ~15;
    if (total > 512) this.die('EACCES', `combined stack size of ${s.frames.length} calls is ${total}. Too large`);
    if (total > this.maxDepth) this.maxDepth = total;
  }

  private helper(pc: number, s: State, fr: Frame, id: number, readReg: (r: number) => Reg): void {
    if (id < 0 || id >= HELPER_NAMES.length || id === 0) this.at(pc, `invalid func unknown#${id}`, 'EINVAL');
    const proto = helperProto(this.env.progType, id);
    const caps = this.env.caps;
    const capOk = !proto?.cap || caps.has(proto.cap) || caps.has('CAP_SYS_ADMIN');
    if (!proto || !capOk) this.at(pc, `program of this type cannot use helper ${fname(id)}#${id}`, 'EINVAL');
    if (GPL_ONLY.has(id) && this.env.gplCompatible === false) this.at(pc, 'cannot call GPL-restricted function from non-GPL compatible program', 'EINVAL');
    const regs = fr.regs;
    let map: BpfMap | undefined;
    const keyReg: Reg = { ...regs[2]! };
    let memReg = -1;
    let memInit = false;
    for (let i = 0; i < proto.args.length; i++) {
      const r = i + 1;
      const a = proto.args[i]!;
      const reg = readReg(r);
      switch (a) {
        case 'ctx':
          if (reg.t !== 'ctx') this.at(pc, `R${r} type=${reg.t} expected=ctx`);
          if (reg.off !== 0) this.at(pc, `dereference of modified ctx ptr R${r} off=${reg.off} disallowed`);
          break;
        case 'map':
          if (reg.t !== 'map_ptr') this.at(pc, `R${r} type=${reg.t} expected=map_ptr`);
          map = reg.map!;
          break;
        case 'key':
        case 'value': {
          if (!map) this.at(pc, `invalid map_ptr to access map->${a}`);
          if (a === 'value' && (map!.type === BPF_MAP_TYPE_SOCKMAP || map!.type === BPF_MAP_TYPE_SOCKHASH) && reg.t !== 'sock' && reg.t !== 'sock_common') {
            // sockmap values from programs are sockets (ARG_PTR_TO_BTF_ID_SOCK_COMMON)
            this.at(pc, `R${r} type=${reg.t} expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_`);
          }
          const size = a === 'key' ? map!.keySize : map!.valueSize;
          this.checkMemArg(pc, s, r, reg, size, false, a === 'key' ? 'key' : 'value');
          break;
        }
        case 'uninit_mem':
        case 'mem':
          if (reg.t !== 'fp' && reg.t !== 'map_value' && !(reg.t === 'pkt' && a === 'mem')) {
            this.at(pc, `R${r} type=${reg.t} expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_`);
          }
          memReg = r;
          memInit = a === 'mem';
          break;
        case 'size': {
          if (reg.t !== 'scalar') this.at(pc, `R${r} type=${reg.t} expected=scalar`);
          if (reg.umin === 0n) this.at(pc, `R${r} invalid zero-sized read: u64=[${reg.umin},${reg.umax}]`);
          if (reg.umax > 0xffffn * 16n) this.at(pc, `R${r} unbounded memory access, use 'var &= const' or 'if (var < const)'`);
          this.demand(s, [r], []);
          const m = regs[memReg]!;
          this.checkMemArg(pc, s, memReg, m, Number(reg.umax), !memInit, 'mem');
          break;
        }
        case 'sock_common':
          // ARG_PTR_TO_BTF_ID_SOCK_COMMON | PTR_MAYBE_NULL: a NULL socket gives cookie 0
          if (reg.t !== 'sock' && reg.t !== 'sock_common' && reg.t !== 'sock_common_or_null' && reg.t !== 'sock_or_null' && !(isConst(reg) && reg.umin === 0n)) {
            this.at(pc, `R${r} type=${reg.t} expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_`);
          }
          break;
        case 'any':
          break;
        case 'unsim':
          this.at(pc, `R${r} type=${reg.t} expected=the kernel object ${fname(id)} takes (this helper's arguments are not simulated)`);
          break;
      }
    }
    if (map) this.checkMapFunc(pc, map, id);
    for (let r = 1; r <= 5; r++) regs[r] = { ...NOT_INIT };
    if (proto.ret === 'map_value_or_null') {
      const mid = this.nextId++;
      if (map!.type === BPF_MAP_TYPE_ARRAY_OF_MAPS || map!.type === BPF_MAP_TYPE_HASH_OF_MAPS) {
        regs[0] = { ...NOT_INIT, t: 'map_ptr_or_null', umin: 0n, umax: 0n, map: map!.innerMeta!, id: mid };
      } else if (map!.type === BPF_MAP_TYPE_SOCKMAP || map!.type === BPF_MAP_TYPE_SOCKHASH) {
        regs[0] = { ...NOT_INIT, t: 'sock_or_null', umin: 0n, umax: 0n, id: mid };
        s.refs.push(mid);
      } else if ((map!.type === BPF_MAP_TYPE_ARRAY || map!.type === BPF_MAP_TYPE_PERCPU_ARRAY) && id === 1 && this.constKey(s, keyReg) !== null && this.constKey(s, keyReg)! < map!.maxEntries) {
        // a constant in-range key into an array cannot miss: no NULL check needed (6.14+)
        regs[0] = { ...NOT_INIT, t: 'map_value', umin: 0n, umax: 0n, map: map! };
      } else {
        regs[0] = { ...NOT_INIT, t: 'map_value_or_null', umin: 0n, umax: 0n, map: map!, id: mid };
      }
    } else {
      regs[0] = unknown();
    }
  }

  /**
   * get_constant_map_key() (6.14+): the key is constant when its bytes are STACK_ZERO, or a
   * spilled scalar of exactly the key's size holding a constant (which then must stay precise).
   */
  private constKey(s: State, reg: Reg): number | null {
    if (!this.bpfCapable || reg.t !== 'fp' || reg.umax !== 0n) return null;
    const f = s.frames[reg.frame]!;
    const o = 512 + reg.off;
    if (o < 0 || o + 4 > 512) return null;
    const k = o >> 3, end = k * 8 + 8;
    let zeros = 0;
    for (let i = o; i < end && f.stype[i] === STACK_ZERO; i++) zeros++;
    if (zeros >= 4) return 0;
    const sp = f.spills[k];
    if (f.stype[k * 8] !== STACK_SPILL || !sp || sp.t !== 'scalar') return null;
    let spill = 0;
    for (let i = o; i < end && f.stype[i] === STACK_SPILL; i++) spill++;
    if (spill !== 4 || !isConst(sp)) return null;
    this.demand(s, [], [reg.frame * 64 + k]);
    return Number(sp.umin & 0xffffffffn);
  }

  private checkMemArg(pc: number, s: State, r: number, reg: Reg, size: number, uninitOk: boolean, what: string): void {
    if (reg.t === 'fp') {
      if (reg.umax !== 0n) this.at(pc, `R${r} variable stack access prohibited`);
      const f = s.frames[reg.frame]!;
      const off = reg.off;
      // check_stack_access_within_bounds: a start outside the frame is EACCES, an end past it EINVAL
      if (off < -512 || off + size > 0) this.at(pc, `invalid ${uninitOk ? 'write to' : 'read from'} stack R${r} off=${off} size=${size}`, off >= 0 || off < -512 ? 'EACCES' : 'EINVAL');
      const o = 512 + off;
      f.depth = Math.max(f.depth, -off);
      this.trackDepth(s);
      if (uninitOk) {
        // the helper writes these bytes: spills there are gone, the bytes are MISC
        for (let k = o >> 3; k <= (o + size - 1) >> 3; k++) scrubSlot(f, k);
        f.stype.fill(STACK_MISC, o, o + size);
        return;
      }
      if (!this.allowUninitStack) {
        for (let i = o; i < o + size; i++) if (f.stype[i] === STACK_INVALID) this.at(pc, `invalid read from stack R${r} off ${off}+${i - o} size ${size}`);
      }
      return;
    }
    if (reg.t === 'map_value') {
      const m = reg.map!;
      if (reg.off < 0 || reg.off + size + Number(reg.umax) > m.valueSize) this.at(pc, `invalid access to map value, value_size=${m.valueSize} off=${reg.off} size=${size}`);
      return;
    }
    if (reg.t === 'pkt') {
      if (uninitOk) this.at(pc, `R${r} type=pkt expected=fp, map_value`);
      const range = reg.range ?? 0;
      if (reg.off < 0 || reg.off + size > range) this.at(pc, `invalid access to packet, off=${reg.off} size=${size}, R${r}(id=${reg.id},off=${reg.off},r=${range})`);
      return;
    }
    this.at(pc, `R${r} type=${reg.t} expected=fp, pkt, pkt_meta, map_key, map_value${what === 'mem' ? ', mem, ringbuf_mem, buf' : ''}`);
  }

  /** check_map_func_compatibility(). */
  private checkMapFunc(pc: number, map: BpfMap, id: number): void {
    const bad = (): never => this.at(pc, `cannot pass map_type ${map.type} into func ${fname(id)}#${id}`, 'EINVAL');
    switch (map.type) {
      case BPF_MAP_TYPE_REUSEPORT_SOCKARRAY:
        if (id !== 82) bad();
        break;
      case BPF_MAP_TYPE_SOCKMAP:
      case BPF_MAP_TYPE_SOCKHASH:
        if (id !== 82 && id !== 1 && id !== 3) bad();
        break;
      case BPF_MAP_TYPE_ARRAY_OF_MAPS:
      case BPF_MAP_TYPE_HASH_OF_MAPS:
        if (id !== 1) bad();
        break;
      case BPF_MAP_TYPE_PERCPU_ARRAY:
        break;
      default:
        if (id === 195) bad();
    }
    if (id === 12 && map.type !== BPF_MAP_TYPE_PROG_ARRAY) bad();
    if ((id === 87 || id === 88 || id === 89) && map.type !== BPF_MAP_TYPE_QUEUE && map.type !== BPF_MAP_TYPE_STACK) bad();
    if (id === 195 && map.type !== BPF_MAP_TYPE_PERCPU_ARRAY && map.type !== BPF_MAP_TYPE_PERCPU_HASH && map.type !== BPF_MAP_TYPE_LRU_PERCPU_HASH) bad();
    if (id === 82 && map.type !== BPF_MAP_TYPE_REUSEPORT_SOCKARRAY && map.type !== BPF_MAP_TYPE_SOCKMAP && map.type !== BPF_MAP_TYPE_SOCKHASH) bad();
    if ((id === 2 || id === 3) && map.mapFlags & BPF_F_RDONLY_PROG) this.at(pc, 'write into map forbidden');
    if (id === 1 && map.mapFlags & BPF_F_WRONLY_PROG && map.type !== BPF_MAP_TYPE_ARRAY_OF_MAPS && map.type !== BPF_MAP_TYPE_HASH_OF_MAPS) {
      // lookups are allowed; reads through the value are refused at the load
    }
    if ((id === 2 || id === 3) && (map.type === BPF_MAP_TYPE_ARRAY || map.type === BPF_MAP_TYPE_PERCPU_ARRAY) && id === 3) {
      // map_delete_elem on an array loads and fails with -EINVAL at run time
    }
  }
}

/** The verifier's wording for an instruction the codec refuses (check_reg_arg, do_check, resolve_pseudo_ldimm64). */
function kernelDecodeMessage(bytes: Uint8Array, e: DecodeError): string {
  const at = e.index * 8;
  const code = at < bytes.length ? bytes[at]! : 0;
  const hex = code.toString(16).padStart(2, '0');
  const reg = /invalid (?:destination|source) register r(\d+)/.exec(e.reason);
  if (reg) return `R${reg[1]} is invalid`;
  if (/second half of lddw|missing its second half/.test(e.reason)) return 'invalid bpf_ld_imm64 insn';
  if (/unknown|not valid|invalid exit|does not exist/.test(e.reason)) return `unknown opcode ${hex}`;
  const c = op.cls(code);
  const o = op.aluOp(code);
  let name: string;
  if (c === op.BPF_ALU || c === op.BPF_ALU64) name = o === op.BPF_MOV ? 'BPF_MOV' : o === op.BPF_NEG ? 'BPF_NEG' : o === op.BPF_END ? 'BPF_END' : 'BPF_ALU';
  else if (c === op.BPF_JMP || c === op.BPF_JMP32) name = o === op.BPF_JA ? 'BPF_JA' : o === op.BPF_CALL ? 'BPF_CALL' : o === op.BPF_EXIT ? 'BPF_EXIT' : 'BPF_JMP/JMP32';
  else name = ['BPF_LD', 'BPF_LDX', 'BPF_ST', 'BPF_STX'][c] ?? 'BPF_LD';
  return `${name} uses reserved fields`;
}

const SIZE: Record<number, number> = { [op.BPF_W]: 4, [op.BPF_H]: 2, [op.BPF_B]: 1, [op.BPF_DW]: 8 };
const OPNAME: Record<number, string> = {
  [op.BPF_MUL]: '*=', [op.BPF_DIV]: '/=', [op.BPF_OR]: '|=', [op.BPF_AND]: '&=', [op.BPF_LSH]: '<<=', [op.BPF_RSH]: '>>=',
  [op.BPF_MOD]: '%=', [op.BPF_XOR]: '^=', [op.BPF_ARSH]: 's>>=',
};
