/**
 * Feature probes (cilium/ebpf's `features` package): ask the kernel, through the Kernel
 * interface only, which parts of programmable reuseport selection it supports. Each probe makes
 * a throwaway object and closes it; a refusal becomes `false` plus the errno that said so.
 */
import * as C from '../kernel/constants.js';
import { ERRNO, SysError, errnoName } from '../kernel/errno.js';
import type { Kernel } from '../kernel/kernel.js';
import { selectSlotProgram } from './select_program.js';

export interface Feature {
  ok: boolean;
  /** 'ok', or the errno / reason that refused it. */
  why: string;
}

export interface ReuseportFeatures {
  /** REUSEPORT_SOCKARRAY maps + SK_REUSEPORT programs (4.19). */
  sockarray: Feature;
  /** SOCKMAP as a bpf_sk_select_reuseport target (5.7). */
  sockmapSelect: Feature;
  /** SO_DETACH_REUSEPORT_BPF (5.3). */
  detach: Feature;
  /** BPF_SK_REUSEPORT_SELECT_OR_MIGRATE programs: TCP listener migration (5.14). */
  migrate: Feature;
  /** BPF_ENABLE_STATS run-time statistics (5.8, CAP_SYS_ADMIN). */
  stats: Feature;
  /** BPF_MAP_*_BATCH on array maps (5.6), when the Kernel implements them. */
  batch: Feature;
}

const PASS = new Uint8Array([0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]); // r0 = SK_PASS; exit

function attempt(fn: () => void): Feature {
  try {
    fn();
    return { ok: true, why: 'ok' };
  } catch (e) {
    if (e instanceof SysError) return { ok: false, why: `${e.syscall}: ${errnoName(e.errno)}` };
    return { ok: false, why: (e as Error).message };
  }
}

/** Run every probe against `kernel` (cheap: a few syscalls each). */
export function probeFeatures(kernel: Kernel): ReuseportFeatures {
  const fds: number[] = [];
  const own = (fd: number): number => { fds.push(fd); return fd; };
  try {
    const sockarray = attempt(() => {
      const m = own(kernel.mapCreate({ mapType: C.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: 1 }));
      own(kernel.progLoad({ progType: C.BPF_PROG_TYPE_SK_REUSEPORT, insns: selectSlotProgram(m, 0), license: 'GPL' }));
    });
    const sockmapSelect = attempt(() => {
      const m = own(kernel.mapCreate({ mapType: C.BPF_MAP_TYPE_SOCKMAP, keySize: 4, valueSize: 8, maxEntries: 1 }));
      own(kernel.progLoad({ progType: C.BPF_PROG_TYPE_SK_REUSEPORT, insns: selectSlotProgram(m, 0), license: 'GPL' }));
    });
    const detach = attempt(() => {
      // A SO_REUSEPORT socket without a program: ENOENT means "known option, nothing attached".
      const s = own(kernel.socket(C.AF_INET, C.SOCK_DGRAM));
      kernel.setsockopt(s, C.SOL_SOCKET, C.SO_REUSEPORT, 1);
      try { kernel.setsockopt(s, C.SOL_SOCKET, C.SO_DETACH_REUSEPORT_BPF, 0); } catch (e) {
        if (!(e instanceof SysError && e.errno === ERRNO.ENOENT)) throw e;
      }
    });
    const migrate = attempt(() => {
      own(kernel.progLoad({ progType: C.BPF_PROG_TYPE_SK_REUSEPORT, insns: PASS, license: 'GPL', expectedAttachType: C.BPF_SK_REUSEPORT_SELECT_OR_MIGRATE }));
    });
    const stats = attempt(() => { own(kernel.enableStats(C.BPF_STATS_RUN_TIME)); });
    const batch = kernel.mapLookupBatch
      ? attempt(() => {
        const m = own(kernel.mapCreate({ mapType: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 }));
        kernel.mapLookupBatch!(m, null, 1);
      })
      : { ok: false, why: 'this Kernel has no mapLookupBatch' };
    return { sockarray, sockmapSelect, detach, migrate, stats, batch };
  } finally {
    for (const fd of fds.reverse()) {
      try { kernel.close(fd); } catch { /* already gone */ }
    }
  }
}
