/** Re-exports of the shared uapi plus the few mask constants the sim needs. */
export * from '../kernel/index.js';
import { BPF_F_RDONLY, BPF_F_RDONLY_PROG, BPF_F_WRONLY, BPF_F_WRONLY_PROG, BPF_F_LOCK } from '../kernel/index.js';

/** BPF_F_ACCESS_MASK. */
export const BPF_F_ACCESS = BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG;
export const BPF_F_LOCK_MASK = BPF_F_LOCK;
/** Syscall names used in SysError messages. */
export const SC = {
  create: 'bpf(BPF_MAP_CREATE)',
  lookup: 'bpf(BPF_MAP_LOOKUP_ELEM)',
  update: 'bpf(BPF_MAP_UPDATE_ELEM)',
  delete: 'bpf(BPF_MAP_DELETE_ELEM)',
  next: 'bpf(BPF_MAP_GET_NEXT_KEY)',
  load: 'bpf(BPF_PROG_LOAD)',
} as const;
