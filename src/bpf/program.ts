/**
 * BpfProgram: BPF_PROG_LOAD from a spec, verifier refusals as a typed VerifierError carrying
 * the whole log (cilium/ebpf's VerifierError), and fd ownership.
 */
import { BPF_PROG_TYPE_SK_REUSEPORT } from '../kernel/constants.js';
import { SysError } from '../kernel/errno.js';
import type { Kernel, ProgInfo } from '../kernel/kernel.js';
import { encode, type Insn } from '../ebpf/insn.js';

export interface ProgramSpec {
  /** BPF_PROG_TYPE_* (default SK_REUSEPORT). */
  type?: number;
  /** Bytecode (8 bytes per slot) or decoded instruction slots. */
  insns: Uint8Array | readonly Insn[];
  /** Default 'GPL'. */
  license?: string;
  /** BPF_SK_REUSEPORT_SELECT (default for SK_REUSEPORT) or BPF_SK_REUSEPORT_SELECT_OR_MIGRATE. */
  expectedAttachType?: number;
  name?: string;
  /** Verifier log level for a verbose log (0: log only on failure). */
  logLevel?: number;
  logSize?: number;
  flags?: number;
}

/** The verifier (or the loader) refused a program. `log` is the complete verifier log. */
export class VerifierError extends SysError {
  override readonly log: string;
  constructor(cause: SysError, log: string) {
    const last = log.trim().split('\n').filter((l) => l && !l.startsWith('processed ')).pop();
    super(cause.syscall, cause.errno, last ? `verifier: ${last}` : undefined, log);
    this.name = 'VerifierError';
    this.log = log;
  }
}

export class BpfProgram {
  readonly kernel: Kernel;
  readonly type: number;
  readonly name: string;
  private _fd: number;

  constructor(kernel: Kernel, fd: number, type: number, name: string) {
    this.kernel = kernel;
    this._fd = fd;
    this.type = type;
    this.name = name;
  }

  static load(kernel: Kernel, spec: ProgramSpec): BpfProgram {
    if (typeof spec !== 'object' || spec === null) throw new TypeError('ProgramSpec must be an object with insns');
    const insns = spec.insns instanceof Uint8Array ? spec.insns : Array.isArray(spec.insns) ? encode(spec.insns) : undefined;
    if (!insns) throw new TypeError('ProgramSpec.insns must be a Uint8Array or an array of instructions');
    const type = spec.type ?? BPF_PROG_TYPE_SK_REUSEPORT;
    let fd: number;
    try {
      fd = kernel.progLoad({
        progType: type, insns, license: spec.license ?? 'GPL', expectedAttachType: spec.expectedAttachType,
        name: spec.name, logLevel: spec.logLevel, logSize: spec.logSize, progFlags: spec.flags,
      });
    } catch (e) {
      if (e instanceof SysError && e.log) throw new VerifierError(e, e.log);
      throw e;
    }
    return new BpfProgram(kernel, fd, type, spec.name ?? '');
  }

  /** Adopt a program fd (takes ownership). */
  static fromFd(kernel: Kernel, fd: number): BpfProgram {
    const info = kernel.progGetInfo(fd);
    return new BpfProgram(kernel, fd, info.type, info.name);
  }

  static fromPin(kernel: Kernel, path: string): BpfProgram {
    return BpfProgram.adopt(kernel, kernel.objGet(path));
  }

  /** BPF_PROG_GET_FD_BY_ID (needs CAP_SYS_ADMIN). */
  static fromId(kernel: Kernel, id: number): BpfProgram {
    return BpfProgram.adopt(kernel, kernel.progGetFdById(id));
  }

  private static adopt(kernel: Kernel, fd: number): BpfProgram {
    try { return BpfProgram.fromFd(kernel, fd); } catch (e) { kernel.close(fd); throw e; }
  }

  get fd(): number {
    if (this._fd < 0) throw new Error(`BpfProgram${this.name ? ` "${this.name}"` : ''} used after close()`);
    return this._fd;
  }

  get closed(): boolean { return this._fd < 0; }

  pin(path: string): void { this.kernel.objPin(this.fd, path); }

  info(): ProgInfo { return this.kernel.progGetInfo(this.fd); }

  /** Close the fd (idempotent). An attached program stays alive: the reuseport group holds it. */
  close(): void {
    if (this._fd < 0) return;
    const fd = this._fd;
    this._fd = -1;
    this.kernel.close(fd);
  }
}
