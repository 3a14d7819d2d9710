/**
 * Linux errno values (asm-generic/errno-base.h, asm-generic/errno.h) plus the kernel-internal
 * ENOTSUPP (524), which leaks to user space from the sockarray and reuseport attach paths.
 */
export const ERRNO = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, ENXIO: 6, E2BIG: 7, ENOEXEC: 8, EBADF: 9,
  ECHILD: 10, EAGAIN: 11, ENOMEM: 12, EACCES: 13, EFAULT: 14, EBUSY: 16, EEXIST: 17, EXDEV: 18,
  ENODEV: 19, ENOTDIR: 20, EISDIR: 21, EINVAL: 22, ENFILE: 23, EMFILE: 24, ENOTTY: 25,
  EFBIG: 27, ENOSPC: 28, ESPIPE: 29, EROFS: 30, EMLINK: 31, EPIPE: 32, EDOM: 33, ERANGE: 34,
  EDEADLK: 35, ENAMETOOLONG: 36, ENOSYS: 38, ENOTEMPTY: 39, ELOOP: 40, ENOTSUP: 95,
  EBADFD: 77, EMSGSIZE: 90, ENOTSOCK: 88, EDESTADDRREQ: 89, EPROTOTYPE: 91, ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93, ESOCKTNOSUPPORT: 94, EOPNOTSUPP: 95, EPFNOSUPPORT: 96, EAFNOSUPPORT: 97,
  EADDRINUSE: 98, EADDRNOTAVAIL: 99, ENETDOWN: 100, ENETUNREACH: 101, ECONNABORTED: 103,
  ECONNRESET: 104, ENOBUFS: 105, EISCONN: 106, ENOTCONN: 107, ETIMEDOUT: 110,
  ECONNREFUSED: 111, EHOSTUNREACH: 113, EALREADY: 114, EINPROGRESS: 115,
  /** Kernel-internal "operation not supported" (include/linux/errno.h); not in libc. */
  ENOTSUPP: 524,
} as const;

export type ErrnoCode = keyof typeof ERRNO;

const NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(ERRNO)) {
  // EOPNOTSUPP and ENOTSUP share 95; keep the socket-layer name the kernel docs use.
  if (!NAMES.has(value) || name === 'EOPNOTSUPP') NAMES.set(value, name);
}

/** Symbolic name of an errno value ('E524'-style fallback for values we do not know). */
export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? `E${errno}`;
}

/**
 * A failed system call, thrown by every Kernel implementation (simulated or real) so callers
 * can compare errnos across kernels. `log` carries the verifier log of a refused BPF_PROG_LOAD.
 */
export class SysError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;
  readonly log: string | undefined;

  constructor(syscall: string, errno: number, detail?: string, log?: string) {
    const code = errnoName(errno);
    super(`${syscall}: ${code} (${errno})${detail ? `: ${detail}` : ''}`);
    this.name = 'SysError';
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
    this.log = log;
  }
}

/** Throw a SysError by errno name, e.g. `fail('bpf(BPF_MAP_UPDATE_ELEM)', 'E2BIG')`. */
export function fail(syscall: string, code: ErrnoCode, detail?: string, log?: string): never {
  throw new SysError(syscall, ERRNO[code], detail, log);
}
