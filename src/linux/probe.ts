/**
 * Can this process use real bpf(2)? Answers {ok, reason} without throwing, so tests can skip
 * (or fail, in CI) with the reason, and the product can fall back to the kernel's hash.
 */
import { release } from 'node:os';
import { BPF_MAP_TYPE_REUSEPORT_SOCKARRAY } from '../kernel/constants.js';
import { errnoName } from '../kernel/errno.js';
import { BpfSyscall } from './bpf_syscall.js';
import { libc, SYS_BPF } from './libc.js';

export interface ProbeResult {
  ok: boolean;
  /** Why not (or, when ok, what was found). */
  reason: string;
}

/** SK_REUSEPORT programs and REUSEPORT_SOCKARRAY appeared in 4.19; detach needs 5.3. */
const MIN_KERNEL: [number, number] = [4, 19];

export function probeLinux(): ProbeResult {
  if (process.platform !== 'linux') return { ok: false, reason: `not Linux (platform ${process.platform})` };
  const nr = SYS_BPF[process.arch];
  if (nr === undefined) return { ok: false, reason: `no bpf(2) syscall number for architecture ${process.arch}` };
  const m = /^(\d+)\.(\d+)/.exec(release());
  if (!m) return { ok: false, reason: `cannot parse kernel release "${release()}"` };
  const [maj, min] = [Number(m[1]), Number(m[2])];
  if (maj < MIN_KERNEL[0] || (maj === MIN_KERNEL[0] && min < MIN_KERNEL[1])) {
    return { ok: false, reason: `kernel ${release()} is too old: SK_REUSEPORT needs ${MIN_KERNEL.join('.')}+` };
  }
  let c;
  try { c = libc(); } catch (e) { return { ok: false, reason: `koffi missing or unusable: ${(e as Error).message}` }; }
  try {
    const bpf = new BpfSyscall(c, nr);
    const fd = bpf.mapCreate({ mapType: BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: 1 });
    bpf.maps.delete(fd);
    c.close(fd);
  } catch (e) {
    const errno = (e as { errno?: number }).errno ?? 0;
    const why = errno === 1 ? 'no CAP_BPF/CAP_SYS_ADMIN (run as root or grant CAP_BPF)'
      : errno === 38 ? 'kernel built without CONFIG_BPF_SYSCALL'
      : errno === 22 ? 'kernel does not know REUSEPORT_SOCKARRAY'
      : (e as Error).message;
    return { ok: false, reason: `bpf(BPF_MAP_CREATE) failed with ${errnoName(errno)}: ${why}` };
  }
  return { ok: true, reason: `bpf(2) usable on Linux ${release()} (${process.arch})` };
}
