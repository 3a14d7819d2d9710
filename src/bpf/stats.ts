/**
 * Program run statistics (BPF_ENABLE_STATS(BPF_STATS_RUN_TIME)): run_cnt / run_time_ns only
 * advance while a stats fd is open, because timing every run costs a little.
 */
import { BPF_STATS_RUN_TIME } from '../kernel/constants.js';
import type { Kernel } from '../kernel/kernel.js';
import type { BpfProgram } from './program.js';

export interface ProgramStats {
  runCnt: bigint;
  runTimeNs: bigint;
  /** runTimeNs / runCnt (0 when the program never ran). */
  avgNs: number;
}

/** Keep stats collection on until close(). */
export function enableStats(kernel: Kernel): { close(): void } {
  const fd = kernel.enableStats(BPF_STATS_RUN_TIME);
  let open = true;
  return { close() { if (open) { open = false; kernel.close(fd); } } };
}

/** Run fn (sync or async) with stats enabled; the stats fd is closed when it settles. */
export function withStats<T>(kernel: Kernel, fn: () => T): T {
  const handle = enableStats(kernel);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    handle.close();
    throw e;
  }
  if (result instanceof Promise) return result.finally(() => handle.close()) as T;
  handle.close();
  return result;
}

export function programStats(prog: BpfProgram): ProgramStats {
  const { runCnt, runTimeNs } = prog.info();
  return { runCnt, runTimeNs, avgNs: runCnt === 0n ? 0 : Number(runTimeNs) / Number(runCnt) };
}
