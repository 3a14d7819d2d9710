/** struct bpf_prog: a loaded, verified program and what it holds on to. */
import type { Insn } from '../ebpf/insn.js';
import type { VmProgram } from '../vm/index.js';
import type { BpfMap } from './bpf_map.js';

export class BpfProg {
  id = 0;
  readonly type: number;
  readonly expectedAttachType: number;
  readonly name: string;
  readonly insns: readonly Insn[];
  /** Maps referenced by ld_imm64 (index = slot), held for the program's lifetime. */
  readonly mapAt: ReadonlyMap<number, BpfMap>;
  readonly usedMaps: readonly BpfMap[];
  /** Verifier-computed stack use and instruction count processed. */
  stackDepth = 0;
  insnProcessed = 0;
  refs = 0;
  runCnt = 0n;
  runTimeNs = 0n;
  /** Compiled by the kernel's runtime on first run (helpers are bound to that kernel). */
  vm: VmProgram | null = null;
  freed = false;

  constructor(type: number, expectedAttachType: number, name: string, insns: readonly Insn[], mapAt: Map<number, BpfMap>) {
    this.type = type;
    this.expectedAttachType = expectedAttachType;
    this.name = name;
    this.insns = insns;
    this.mapAt = mapAt;
    this.usedMaps = [...new Set(mapAt.values())];
  }

  /** bpf_prog_size(): what SO_ATTACH_REUSEPORT_EBPF compares with optmem_max for SOCKET_FILTER. */
  get size(): number {
    return 40 + this.insns.length * 8;
  }
}
