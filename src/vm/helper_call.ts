/** The object a helper receives (one per loaded program, reused for every call). */
import { VmError } from './errors.js';
import type { Memory } from './memory.js';
import type { HelperCall } from './types.js';

const TWO32 = 4294967296;

export class HelperCallImpl implements HelperCall {
  mem: Memory;
  readonly regs = new Int32Array(22);
  /** pc of the call in progress, -1 outside helper calls (tells run() where an exception came from). */
  pc = -1;
  id = 0;
  constructor(mem: Memory) { this.mem = mem; }
  u32(n: number): number { return this.regs[2 * n]! >>> 0; }
  i32(n: number): number { return this.regs[2 * n]!; }
  num(n: number): number {
    const hi = this.regs[2 * n + 1]! >>> 0;
    if (hi >= 0x200000) throw new VmError('helper-failed', this.pc, `r${n} does not fit an exact number`);
    return hi * TWO32 + (this.regs[2 * n]! >>> 0);
  }
  addr(n: number): number { return this.num(n); }
  u64(n: number): bigint { return (BigInt(this.regs[2 * n + 1]! >>> 0) << 32n) | BigInt(this.regs[2 * n]! >>> 0); }
  i64(n: number): bigint { return BigInt.asIntN(64, this.u64(n)); }
  setR0(lo: number, hi: number): void { this.regs[0] = lo; this.regs[1] = hi; }
}

/** Scratch for a helper result's high half (results are returned as lo + this). */
export const resultHi = new Int32Array(1);

/** Convert a helper's return value to r0 halves: returns lo, stores hi in resultHi[0]. */
export function helperResult(t: unknown, call: HelperCallImpl): number {
  if (t === undefined) { resultHi[0] = call.regs[1]!; return call.regs[0]!; }
  if (typeof t === 'number') {
    if (!Number.isSafeInteger(t) && !(Number.isInteger(t) && Math.abs(t) <= 2 ** 53)) {
      throw new VmError('helper-result', call.pc, `helper ${call.id} returned ${t}, not an integer`);
    }
    const lo = t | 0; // ToInt32 is exact modulo 2^32
    resultHi[0] = Math.floor(t / TWO32) | 0;
    return lo;
  }
  if (typeof t === 'bigint') {
    const v = BigInt.asUintN(64, t);
    resultHi[0] = Number(v >> 32n) | 0;
    return Number(v & 0xffffffffn) | 0;
  }
  throw new VmError('helper-result', call.pc, `helper ${call.id} returned a ${typeof t}, not a number or bigint`);
}
