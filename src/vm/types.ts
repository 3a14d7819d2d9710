/**
 * Public types of the eBPF virtual machine (RFC 9669).
 *
 * Memory model: one flat 64-bit address space. Every region (context, packet, stack frames,
 * map values, caller memory) sits at its own base `id * 2^32`, so a pointer's high 32 bits name
 * the region and its low 32 bits are the offset inside it. Address 0 (region 0) is never mapped,
 * so a NULL dereference faults. Regions 1..8 are the 512-byte stacks of call frames 0..7
 * (frame k's r10 = (k+1) * 2^32 + 512). Caller regions start at id 9. Addresses are exact JS
 * numbers (ids stay below 2^21, so every address is < 2^53).
 *
 * Helper ABI (allocation-free): a helper gets one reused `HelperCall` whose `regs` Int32Array
 * holds r0..r10 as (low, high) int32 halves; it returns r0 as a number (an integer with
 * |v| <= 2^53, negative values sign-extend, e.g. -EINVAL) or a bigint (taken mod 2^64), or
 * `undefined` to keep what it stored with `call.setR0(lo, hi)` (0 when it stored nothing).
 * A helper signals a typed failure by throwing `HelperError` (or any VmError); the program ends
 * in a VmError with reason 'helper-failed' at the call's pc. Any other exception thrown by a
 * helper is wrapped the same way: nothing but VmError escapes a run.
 */
import type { Insn } from '../ebpf/insn.js';
import type { Memory } from './memory.js';

/** Why a run (or a load) was refused. */
export type VmErrorReason =
  | 'out-of-bounds'      // load/store outside every mapped region (incl. NULL and unmapped ids)
  | 'read-only'          // store into a region mapped read-only
  | 'jump-out-of-range'  // jump/call target outside the program
  | 'jump-into-lddw'     // jump/call target is the second slot of an lddw
  | 'budget-exceeded'    // more instructions executed than the budget allows
  | 'unknown-helper'     // call/callx of a helper id that is not in the table
  | 'call-depth'         // more than 8 call frames (stack overflow)
  | 'write-r10'          // instruction writes the read-only frame pointer r10
  | 'r10-arithmetic'     // ALU op on the frame pointer other than mov64/add64 (the verifier's rule)
  | 'fell-off-end'       // execution ran past the last instruction without exit
  | 'unsupported'        // valid encoding this VM does not execute (kfunc call, unresolved lddw kind)
  | 'no-packet'          // ld_abs/ld_ind without a packet region
  | 'helper-failed'      // a helper threw (HelperError or anything else)
  | 'helper-result'      // a helper returned something that is not an integer/bigint
  | 'empty-program'      // no instructions
  | 'bad-argument'       // run()/loadProgram()/Memory called with an argument of the wrong kind
  | 'internal-error';    // a bug in the VM itself (reported, never a raw JS exception)

/** A helper function; see the module comment for the ABI. */
export type Helper = (call: HelperCall) => number | bigint | void;

/** Helper id -> function. */
export type HelperTable = ReadonlyMap<number, Helper> | Readonly<Record<number, Helper>>;

/** What a helper sees while it runs (one reused object per program: do not keep it). */
export interface HelperCall {
  /** The memory the program runs against: read/write VM memory by address, bounds-checked. */
  readonly mem: Memory;
  /**
   * Registers as int32 halves: regs[2n] = low 32 bits of rN, regs[2n+1] = high 32 bits.
   * r1..r5 (the arguments) are set before each call and r0 is preset to 0; other slots are unspecified.
   */
  readonly regs: Int32Array;
  /** pc (slot index) of the call instruction. */
  readonly pc: number;
  /** Helper id being called. */
  readonly id: number;
  /** Low 32 bits of rN, unsigned. */
  u32(n: number): number;
  /** Low 32 bits of rN, signed. */
  i32(n: number): number;
  /** rN as an unsigned number; throws VmError('helper-failed') when it is >= 2^53 (use u64). */
  num(n: number): number;
  /** rN as an address (same as num: addresses are always exact numbers). */
  addr(n: number): number;
  /** rN as unsigned 64-bit bigint (allocates: slow path). */
  u64(n: number): bigint;
  /** rN as signed 64-bit bigint (allocates: slow path). */
  i64(n: number): bigint;
  /** Set r0 from halves; takes effect when the helper returns undefined. */
  setR0(lo: number, hi: number): void;
}

export interface LoadOptions {
  /** Helper functions by id. Calls to other ids end the run with 'unknown-helper'. */
  helpers?: HelperTable;
  /** Maximum instructions per run (default 1,000,000). */
  budget?: number;
  /**
   * Value of an lddw with src_reg 1..6 (map fd, map value, BTF id, func, map idx, map idx value):
   * return the VM address or handle the program should see in dst. Called once per lddw at
   * load time. Without it such an lddw is refused with VmError('unsupported').
   */
  resolveLddw?: (insn: Insn, pc: number) => bigint | number;
  /** 'compiled' (default): eBPF -> JavaScript; 'interpreter': the BigInt reference interpreter. */
  mode?: 'interpreter' | 'compiled';
}

/** A loaded program: run it any number of times, against any Memory. Allocation-free per run. */
export interface VmProgram {
  readonly mode: 'interpreter' | 'compiled';
  readonly insns: readonly Insn[];
  readonly budget: number;
  /**
   * Run with r1..r5 set from the arguments (integers as JS numbers, e.g. `region.base`; negative
   * values sign-extend; omitted = 0) and r10 = top of frame 0's stack.
   * Returns the low 32 bits of r0 as an unsigned number; see r0Hi / r0() for the rest.
   * Throws VmError (never anything else).
   */
  run(mem: Memory, r1?: number, r2?: number, r3?: number, r4?: number, r5?: number): number;
  /** High 32 bits of r0 of the last successful run (unsigned). */
  readonly r0Hi: number;
  /** Instructions executed by the last run (also set when it failed). */
  readonly insnCount: number;
  /** Full r0 of the last successful run as unsigned 64-bit. */
  r0(): bigint;
}

export interface RunOptions {
  /** Memory the program gets: r1 = its address, r2 = its length (0/0 without). Also the packet for ld_abs/ld_ind. */
  mem?: Uint8Array;
  budget?: number;
  /** Helpers; default: { 5: identity (returns r1) } as the conformance suite expects. */
  helpers?: HelperTable;
  mode?: 'interpreter' | 'compiled';
}

/** Region ids and layout constants. */
export const REGION_SPAN = 2 ** 32;
export const STACK_SIZE = 512;
export const MAX_FRAMES = 8;
/** Frame k's stack is region id FIRST_STACK_ID + k. */
export const FIRST_STACK_ID = 1;
/** First id handed to Memory.map(). */
export const FIRST_USER_ID = FIRST_STACK_ID + MAX_FRAMES;
export const DEFAULT_BUDGET = 1_000_000;
