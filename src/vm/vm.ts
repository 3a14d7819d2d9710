/** loadProgram / runProgram: the VM's entry points. */
import { DecodeError, type Insn } from '../ebpf/insn.js';
import { compile, type CompiledFn, type CompiledState } from './compiler.js';
import { ProgramExit, VmError, asVmError } from './errors.js';
import { HelperCallImpl } from './helper_call.js';
import { Interpreter, type RunState } from './interpreter.js';
import { Memory } from './memory.js';
import { analyze, type Analyzed } from './program.js';
import type { Helper, HelperCall, LoadOptions, RunOptions, VmProgram } from './types.js';

const TWO32 = 4294967296;
/**
 * Larger programs run on the interpreter even in 'compiled' mode (check `prog.mode`): V8 takes
 * seconds to parse and first-run a function with hundreds of thousands of switch cases, while
 * SK_REUSEPORT programs are a few dozen instructions (the kernel's unprivileged limit is 4096).
 */
export const COMPILE_LIMIT = 65536;

function half(v: number | undefined, which: 'lo' | 'hi', k: number): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || Math.abs(v) > 2 ** 53) {
    throw new VmError('bad-argument', -1, `r${k} must be an integer number, not ${String(v)}`);
  }
  return which === 'lo' ? v | 0 : Math.floor(v / TWO32) | 0;
}

abstract class ProgramBase implements VmProgram {
  abstract readonly mode: 'interpreter' | 'compiled';
  readonly insns: readonly Insn[];
  readonly budget: number;
  protected readonly call: HelperCallImpl;
  protected running = false;
  protected lo = 0;
  protected hi = 0;
  protected count = 0;

  constructor(a: Analyzed, call: HelperCallImpl) {
    this.insns = a.insns;
    this.budget = a.budget;
    this.call = call;
  }
  get r0Hi(): number { return this.hi >>> 0; }
  get insnCount(): number { return this.count; }
  r0(): bigint { return (BigInt(this.hi >>> 0) << 32n) | BigInt(this.lo >>> 0); }
  /** A helper ended the program early (ProgramExit): r0 is its value. */
  protected exitWith(e: ProgramExit): number {
    this.call.pc = -1;
    this.lo = Number(e.r0 & 0xffffffffn) | 0;
    this.hi = Number(e.r0 >> 32n) | 0;
    return this.lo >>> 0;
  }
  abstract run(mem: Memory, r1?: number, r2?: number, r3?: number, r4?: number, r5?: number): number;

  protected enter(mem: Memory): void {
    if (!(mem instanceof Memory)) throw new VmError('bad-argument', -1, 'run: mem must be a Memory');
    if (this.running) throw new VmError('bad-argument', -1, 'run: program is already running (re-entrant call from a helper)');
    this.running = true;
    this.call.mem = mem;
    this.call.pc = -1;
  }

  /** Everything escaping a run becomes a VmError: helper exceptions are tagged with the call's pc. */
  protected failure(e: unknown): VmError {
    if (this.call.pc >= 0) { const pc = this.call.pc; this.call.pc = -1; return asVmError(e, pc); }
    if (e instanceof VmError) return e;
    return new VmError('internal-error', -1, e instanceof Error ? `${e.name}: ${e.message}` : String(e), { cause: e });
  }
}

class CompiledProgram extends ProgramBase {
  readonly mode = 'compiled' as const;
  private readonly fn: CompiledFn;
  private readonly state: CompiledState;
  /** The generated JavaScript (for debugging and docs). */
  readonly source: string;

  constructor(a: Analyzed, helpers: LoadOptions['helpers'], call: HelperCallImpl) {
    super(a, call);
    const c = compile(a, helpers, call);
    this.fn = c.fn;
    this.state = c.state;
    this.source = c.source;
  }

  run(mem: Memory, r1?: number, r2?: number, r3?: number, r4?: number, r5?: number): number {
    this.enter(mem);
    try {
      // fast argument path: int32 or small pointers; anything else is checked by half()
      const l1 = r1 === undefined ? 0 : (r1 | 0) === r1 ? r1 : half(r1, 'lo', 1);
      const h1 = r1 === undefined ? 0 : (r1 | 0) === r1 ? r1 >> 31 : half(r1, 'hi', 1);
      const l2 = r2 === undefined ? 0 : (r2 | 0) === r2 ? r2 : half(r2, 'lo', 2);
      const h2 = r2 === undefined ? 0 : (r2 | 0) === r2 ? r2 >> 31 : half(r2, 'hi', 2);
      const l3 = half(r3, 'lo', 3), h3 = half(r3, 'hi', 3);
      const l4 = half(r4, 'lo', 4), h4 = half(r4, 'hi', 4);
      const l5 = half(r5, 'lo', 5), h5 = half(r5, 'hi', 5);
      const lo = this.fn(mem.table, mem, l1, h1, l2, h2, l3, h3, l4, h4, l5, h5);
      this.lo = lo;
      this.hi = this.state.h0;
      this.count = this.state.n;
      return lo >>> 0;
    } catch (e) {
      if (e instanceof ProgramExit) { this.count = -1; return this.exitWith(e); }
      const err = this.failure(e);
      this.count = err.reason === 'budget-exceeded' ? this.budget : -1;
      throw err;
    } finally {
      this.running = false;
    }
  }
}

class InterpretedProgram extends ProgramBase {
  readonly mode = 'interpreter' as const;
  private readonly interp: Interpreter;
  private readonly st: RunState = { insnCount: 0, r0: 0n };

  constructor(a: Analyzed, helpers: LoadOptions['helpers'], call: HelperCallImpl) {
    super(a, call);
    this.interp = new Interpreter(a, helpers, call);
  }

  run(mem: Memory, r1?: number, r2?: number, r3?: number, r4?: number, r5?: number): number {
    this.enter(mem);
    try {
      const args = [r1, r2, r3, r4, r5].map((v, k) => {
        const lo = half(v, 'lo', k + 1), hi = half(v, 'hi', k + 1);
        return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      });
      this.interp.run(mem, args, this.st);
      this.count = this.st.insnCount;
      this.lo = Number(this.st.r0 & 0xffffffffn) | 0;
      this.hi = Number(this.st.r0 >> 32n) | 0;
      return this.lo >>> 0;
    } catch (e) {
      this.count = this.st.insnCount;
      if (e instanceof ProgramExit) return this.exitWith(e);
      throw this.failure(e);
    } finally {
      this.running = false;
    }
  }
}

/**
 * Verify and prepare a program. Throws DecodeError (bad encoding, from src/ebpf) or VmError
 * (bad jump/call target, write to r10, unresolvable lddw, bad options).
 */
export function loadProgram(program: Uint8Array | readonly Insn[], opts: LoadOptions = {}): VmProgram {
  const a = analyze(program, opts);
  const call = new HelperCallImpl(new Memory());
  const mode = opts.mode ?? 'compiled';
  if (mode !== 'compiled' && mode !== 'interpreter') {
    throw new VmError('bad-argument', -1, `mode must be 'interpreter' or 'compiled', not ${String(mode)}`);
  }
  if (mode === 'compiled' && a.insns.length <= COMPILE_LIMIT) {
    try {
      return new CompiledProgram(a, opts.helpers, call);
    } catch (e) {
      // code generation disallowed (--disallow-code-generation-from-strings, CSP): interpret
      if (!(e instanceof EvalError)) throw e;
    }
  }
  return new InterpretedProgram(a, opts.helpers, call);
}

/** Helper 5 of the conformance suite: returns its first argument unchanged. */
export const identityHelper: Helper = (c: HelperCall) => { c.setR0(c.regs[2]!, c.regs[3]!); };

/** The helper table runProgram uses when none is given. */
export const defaultHelpers: ReadonlyMap<number, Helper> = new Map([[5, identityHelper]]);

/**
 * Run bytecode once against a fresh memory: r1 = address of `mem` (0 without), r2 = its length,
 * r10 = top of a 512-byte stack. Returns r0 as unsigned 64-bit.
 * Throws DecodeError or VmError (and nothing else).
 */
export function runProgram(bytecode: Uint8Array | readonly Insn[], options: RunOptions = {}): bigint {
  if (options.mem !== undefined && !(options.mem instanceof Uint8Array)) {
    throw new VmError('bad-argument', -1, 'runProgram: mem must be a Uint8Array');
  }
  let prog: VmProgram;
  try {
    prog = loadProgram(bytecode, { helpers: options.helpers ?? defaultHelpers, budget: options.budget, mode: options.mode });
  } catch (e) {
    if (e instanceof DecodeError || e instanceof VmError) throw e;
    throw new VmError('bad-argument', -1, e instanceof Error ? e.message : String(e), { cause: e });
  }
  const mem = new Memory();
  let r1 = 0, r2 = 0;
  if (options.mem) {
    const region = mem.map(options.mem, { name: 'mem' });
    mem.packet = region;
    r1 = region.base;
    r2 = options.mem.length;
  }
  prog.run(mem, r1, r2);
  return prog.r0();
}
