/**
 * Load-time checks (kernel/bpf/verifier.c, reduced): ld_imm64 map resolution, control-flow
 * checks (check_cfg), then a path-sensitive abstract interpretation of registers and stack
 * (do_check): uninitialised reads, context/packet/map-value/socket access rules, helper
 * prototypes and map compatibility, NULL checks, stack size across bpf-to-bpf calls.
 * Failures throw VerifierError with the kernel's errno and a log naming the instruction.
 * Runtime memory safety stays with the VM's bounds checks.
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

interface Frame {
  regs: Reg[];
  /** Per byte: 0 uninit, 1 written. */
  stack: Uint8Array;
  /** Per byte: the known value (0..255) or -1 (for constant map keys). */
  vals: Int16Array;
  /** Spilled registers per 8-byte slot (index 0 = fp-8). */
  spills: (Reg | null)[];
  /** Return pc in the caller. */
  ret: number;
  /** Lowest stack offset used (positive bytes). */
  depth: number;
}

interface State {
  pc: number;
  /** The last state seen at each loop head on this path (infinite-loop detection). */
  loops: Map<number, string>;
  frames: Frame[];

  refs: number[];
}

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
  private readonly seen: Map<number, Set<string>> = new Map();
  private readonly subprogStarts = new Set<number>([0]);
  /** Jump targets (where states are compared) and targets of backward jumps (loop heads). */
  private readonly pruneAt = new Set<number>();
  private readonly loopHeads = new Set<number>();

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
    const edge = (from: number, to: number): void => {
      if (to < 0 || to >= n) this.die('EINVAL', `jump out of range from insn ${from} to ${to}`);
      if (to !== from + 1) this.pruneAt.add(to);
      if (to <= from) this.loopHeads.add(to);
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
        if (i + 2 < n) edge(i, i + 2);
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
          edge(i, i + 1);
          continue;
        }
        if (code === op.BPF_JA) {
          const off = c === op.BPF_JMP32 ? insn.imm : insn.off;
          edge(i, i + off + 1);
          continue;
        }
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
    const regs: Reg[] = [];
    for (let r = 0; r <= 10; r++) regs.push({ ...NOT_INIT });
    regs[1] = { ...NOT_INIT, t: 'ctx', off: 0, umin: 0n, umax: 0n };
    regs[10] = { ...NOT_INIT, t: 'fp', off: 0, umin: 0n, umax: 0n, frame: 0 };
    const init: State = { pc: 0, loops: new Map(), frames: [{ regs, stack: new Uint8Array(512), vals: new Int16Array(512).fill(-1), spills: new Array(64).fill(null), ret: -1, depth: 0 }], refs: [] };
    const work: State[] = [init];
    while (work.length) {
      const s = work.pop()!;
      this.walk(s, work);
    }
    return { insnProcessed: this.processed, stackDepth: this.maxDepth };
  }

  private key(s: State): string {
    const f = s.frames.map((fr) => fr.regs.map((r) => `${r.t}:${r.off}:${r.umin}:${r.umax}:${r.map?.id ?? ''}:${r.id}:${r.range ?? ''}:${r.align ?? ''}`).join(',') +
      '|' + Buffer.from(fr.stack.subarray(512 - fr.depth)).toString('base64') + '|' + fr.vals.subarray(512 - fr.depth).join(',') + '|' + fr.spills.slice(64 - ((fr.depth + 7) >> 3)).map((x) => (x ? `${x.t}${x.off}${x.umin}${x.umax}` : '')).join(',') + '|' + fr.ret);
    return `${f.join('#')}|${s.refs.join(',')}`;
  }

  private clone(s: State): State {
    return {
      pc: s.pc,
      loops: new Map(s.loops),
      frames: s.frames.map((f) => ({ regs: f.regs.map((r) => ({ ...r })), stack: f.stack.slice(), vals: f.vals.slice(), spills: f.spills.map((x) => (x ? { ...x } : null)), ret: f.ret, depth: f.depth })),
      refs: [...s.refs],
    };
  }

  /** Fail at instruction pc: the log names it like the kernel's verbose log ("pc: (op) insn"). */
  private at(pc: number, msg: string, code: ErrnoCode = 'EACCES'): never {
    const insn = this.insns[pc]!;
    let text: string;
    try { text = formatInsn(insn, this.insns[pc + 1], undefined, false); } catch { text = '?'; }
    this.log.push(`${pc}: (${insn.opcode.toString(16).padStart(2, '0')}) ${text}`);
    return this.die(code, `${msg}\nprocessed ${this.processed} insns (limit ${COMPLEXITY_LIMIT}) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0`);
  }

  private walk(s: State, work: State[]): void {
    for (;;) {
      const pc = s.pc;
      if (++this.processed > COMPLEXITY_LIMIT) this.die('E2BIG', `BPF program is too large. Processed ${this.processed} insn`);
      // prune points are jump targets: an exact revisit there is either an infinite loop (same
      // path) or an already explored state (another path)
      if (this.pruneAt.has(pc)) {
        const k = this.key(s);
        if (this.loopHeads.has(pc)) {
          if (s.loops.get(pc) === k) this.at(pc, `infinite loop detected at insn ${pc}`, 'EINVAL');
          s.loops.set(pc, k);
        }
        let set = this.seen.get(pc);
        if (!set) this.seen.set(pc, (set = new Set()));
        if (set.has(k)) return;
        if (set.size < 256) set.add(k);
      }
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
        this.alu(pc, insn, regs, readReg, writeReg, c === op.BPF_ALU64);
        s.pc = pc + 1;
        continue;
      }
      if (c === op.BPF_LD) {
        if (insn.imm64 !== undefined) {
          const m = this.env.mapAt.get(pc);
          if (insn.src === 0) writeReg(insn.dst, konst(insn.imm64));
          else if (insn.src === op.BPF_PSEUDO_MAP_FD) writeReg(insn.dst, { ...NOT_INIT, t: 'map_ptr', off: 0, umin: 0n, umax: 0n, map: m! });
          else writeReg(insn.dst, { ...NOT_INIT, t: 'map_value', off: Number(insn.imm64 >> 32n), umin: 0n, umax: 0n, map: m! });
          s.pc = pc + 2;
          continue;
        }
        // ld_abs / ld_ind
        if (this.env.progType !== BPF_PROG_TYPE_SOCKET_FILTER) this.at(pc, 'BPF_LD_[ABS|IND] instructions not allowed for this program type', 'EINVAL');
        if (regs[6]!.t !== 'ctx') this.at(pc, 'at the time of BPF_LD_ABS|IND R6 != pointer to skb', 'EINVAL');
        if (op.ldMode(insn.opcode) === op.BPF_IND) readReg(insn.src);
        for (let r = 1; r <= 5; r++) regs[r] = { ...NOT_INIT };
        regs[0] = unknown();
        s.pc = pc + 1;
        continue;
      }
      if (c === op.BPF_LDX) {
        const base = readReg(insn.src);
        const size = SIZE[op.ldSize(insn.opcode)]!;
        const v = this.mem(pc, s, fr, insn.src, base, insn.off, size, false, null);
        writeReg(insn.dst, v);
        s.pc = pc + 1;
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
        s.pc = pc + 1;
        continue;
      }
      // jumps
      const code = op.aluOp(insn.opcode);
      if (code === op.BPF_EXIT) {
        if (s.frames.length > 1) {
          const r0 = readReg(0);
          s.frames.pop();
          const caller = s.frames[s.frames.length - 1]!;
          caller.regs[0] = r0.t === 'fp' && r0.frame === s.frames.length ? this.at(pc, 'cannot return stack pointer to the caller') : r0;
          for (let r = 1; r <= 5; r++) caller.regs[r] = { ...NOT_INIT };
          s.pc = fr.ret;
          continue;
        }
        const r0 = regs[0]!;
        if (r0.t === 'not_init') this.at(pc, 'R0 !read_ok');
        if (s.refs.length) this.at(pc, `Unreleased reference id=${s.refs[0]} alloc_insn=${pc}`, 'EINVAL');
        return;
      }
      if (code === op.BPF_CALL) {
        if (insn.src === op.BPF_PSEUDO_CALL) {
          if (s.frames.length >= 8) this.at(pc, `the call stack of ${s.frames.length + 1} frames is too deep`, 'E2BIG');
          const callee: Frame = { regs: [], stack: new Uint8Array(512), vals: new Int16Array(512).fill(-1), spills: new Array(64).fill(null), ret: pc + 1, depth: 0 };
          for (let r = 0; r <= 10; r++) callee.regs.push(r >= 1 && r <= 5 ? { ...regs[r]! } : { ...NOT_INIT });
          callee.regs[10] = { ...NOT_INIT, t: 'fp', off: 0, umin: 0n, umax: 0n, frame: s.frames.length };
          s.frames.push(callee);
          s.pc = pc + insn.imm + 1;
          continue;
        }
        this.helper(pc, s, fr, insn.imm, readReg);
        s.pc = pc + 1;
        continue;
      }
      if (code === op.BPF_JA) {
        s.pc = pc + (c === op.BPF_JMP32 ? insn.imm : insn.off) + 1;
        continue;
      }
      // conditional
      const dst = readReg(insn.dst);
      const src = op.srcBit(insn.opcode) === op.BPF_X ? readReg(insn.src) : konst(BigInt(insn.imm));
      const is32 = c === op.BPF_JMP32;
      const taken = this.clone(s);
      taken.pc = pc + insn.off + 1;
      s.pc = pc + 1;
      const outcome = this.branch(code, dst, src, is32, insn, s, taken);
      if (outcome !== 'fall') work.push(taken);
      if (outcome === 'taken') return;
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
      fr(s)[insn.dst] = { ...r, umin: nlo, umax: nhi };
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

  private alu(pc: number, insn: Insn, regs: Reg[], readReg: (r: number) => Reg, writeReg: (r: number, v: Reg) => void, is64: boolean): void {
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
          writeReg(insn.dst, isConst(s) && insn.off === 0 ? konst(s.umin & 0xffffffffn) : (insn.off === 0 ? { ...unknown(), umax: 0xffffffffn } : unknown()));
          return;
        }
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
      writeReg(insn.dst, this.ptrArith(pc, insn, code, d, s));
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
    writeReg(insn.dst, { ...unknown(), umin: lo, umax: hi, align: Math.min(align, 16) });
  }

  private ptrArith(pc: number, insn: Insn, code: number, d: Reg, s: Reg): Reg {
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
            frame.stack.fill(1, o, e);
            frame.vals.fill(-1, o, e);
            for (let b = o >> 3; b <= (e - 1) >> 3; b++) frame.spills[b] = null;
            return NOT_INIT;
          }
          for (let i = o; i < e; i++) if (!frame.stack[i] && !this.allowUninitStack) return this.at(pc, `invalid variable-offset read from stack R${regno}`);
          return size === 8 ? unknown() : { ...unknown(), umax: (1n << BigInt(size * 8)) - 1n };
        }
        // stack accesses are always strictly aligned (check_ptr_alignment, before the bounds)
        if (total % size !== 0) return this.at(pc, `misaligned stack access off 0+${base.off}+${off} size ${size}`);
        if (total < -512 || total + size > 0) return this.at(pc, `invalid ${write ? 'write to' : 'read from'} stack R${regno} off=${total} size=${size}`, total >= 0 || total < -512 ? 'EACCES' : 'EINVAL');
        const o = 512 + total;
        frame.depth = Math.max(frame.depth, -total);
        this.trackDepth(s);
        if (write) {
          const slot = (o >> 3);
          if (size === 8 && o % 8 === 0 && val && val.t !== 'not_init') {
            frame.spills[slot] = { ...val };
          } else {
            if (val && val.t !== 'scalar' && val.t !== 'not_init') return this.at(pc, `invalid size of register spill`);
            for (let b = o >> 3; b <= (o + size - 1) >> 3; b++) frame.spills[b] = null;
          }
          frame.stack.fill(1, o, o + size);
          if (val && isConst(val)) {
            let v = val.umin;
            for (let i = 0; i < size; i++) { frame.vals[o + i] = Number(v & 0xffn); v >>= 8n; }
          } else {
            frame.vals.fill(-1, o, o + size);
          }
          return NOT_INIT;
        }
        for (let i = o; i < o + size; i++) {
          if (!frame.stack[i] && !this.allowUninitStack) return this.at(pc, `invalid read from stack off ${total}+${i - o} size ${size}`);
        }
        const sp = frame.spills[o >> 3];
        if (sp && size === 8 && o % 8 === 0) return { ...sp };
        // bytes of known value (STACK_ZERO, spilled constants) read back as a constant
        let known = true;
        let v = 0n;
        for (let i = size - 1; i >= 0; i--) {
          const b = frame.vals[o + i]!;
          if (b < 0) { known = false; break; }
          v = (v << 8n) | BigInt(b);
        }
        if (known) return konst(v);
        if (sp && sp.t !== 'scalar') return this.at(pc, `invalid size of register fill`);
        return size === 8 ? unknown() : { ...unknown(), umax: (1n << BigInt(size * 8)) - 1n };
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

  /** The u32 a stack key pointer points at, when every byte is known. */
  private constKey(s: State, reg: Reg): number | null {
    if (reg.t !== 'fp' || reg.umax !== 0n) return null;
    const f = s.frames[reg.frame]!;
    const o = 512 + reg.off;
    if (o < 0 || o + 4 > 512) return null;
    let v = 0;
    for (let i = 3; i >= 0; i--) {
      const b = f.vals[o + i]!;
      if (b < 0) return null;
      v = v * 256 + b;
    }
    return v;
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
        f.stack.fill(1, o, o + size);
        f.vals.fill(-1, o, o + size);
        for (let b = o >> 3; b <= (o + size - 1) >> 3; b++) f.spills[b] = null;
        return;
      }
      if (!this.allowUninitStack) {
        for (let i = o; i < o + size; i++) if (!f.stack[i]) this.at(pc, `invalid read from stack R${r} off ${off}+${i - o} size ${size}`);
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
