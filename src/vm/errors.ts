import type { VmErrorReason } from './types.js';

/** A program the VM refused to load or run: `pc` is the slot index (-1 when none applies). */
export class VmError extends Error {
  readonly pc: number;
  readonly reason: VmErrorReason;
  readonly detail: string;
  constructor(reason: VmErrorReason, pc: number, detail = '', options?: { cause?: unknown }) {
    super(`pc ${pc}: ${reason}${detail ? `: ${detail}` : ''}`, options);
    this.name = 'VmError';
    this.pc = pc;
    this.reason = reason;
    this.detail = detail;
  }
}

/** Thrown by a helper to end the program with a typed failure (reason 'helper-failed'). */
export class HelperError extends Error {
  /** Optional errno the helper wants to report (e.g. for the simulated kernel). */
  readonly errno: number | undefined;
  constructor(message: string, errno?: number) {
    super(message);
    this.name = 'HelperError';
    this.errno = errno;
  }
}

/**
 * Thrown by a helper to end the whole program at once with this r0 (not an error): how a
 * runtime models bpf_tail_call — run the target program, then `throw new ProgramExit(itsR0)`.
 */
export class ProgramExit {
  readonly r0: bigint;
  constructor(r0: bigint | number) {
    this.r0 = BigInt.asUintN(64, typeof r0 === 'bigint' ? r0 : BigInt(Math.trunc(r0)));
  }
}

/** Re-tag any throwable escaping a helper or memory access as a VmError at `pc`. */
export function asVmError(e: unknown, pc: number): VmError {
  if (e instanceof VmError) return e.pc === pc ? e : new VmError(e.reason, pc, e.detail, { cause: e.cause ?? e });
  if (e instanceof HelperError) return new VmError('helper-failed', pc, e.message, { cause: e });
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new VmError('helper-failed', pc, msg, { cause: e });
}
