/**
 * The libc entry points LinuxKernel calls, bound lazily through koffi so that importing
 * 'reuseport/linux' never fails: a missing koffi (or a non-Linux host) is reported by
 * `LinuxKernel.probe()` instead of a crash at import time.
 */
import { createRequire } from 'node:module';
import type * as KoffiNs from 'koffi';

type Koffi = typeof KoffiNs;
type Fn = (...args: any[]) => any;

export interface Libc {
  koffi: Koffi;
  /** `long syscall(long nr, long cmd, void *attr, unsigned long size)`: the bpf(2) entry. */
  syscall: Fn;
  /** `long syscall(long nr, long a, long b, long c)`: integer-argument syscalls (pidfd_*). */
  syscallInts: Fn;
  socket: Fn; setsockopt: Fn; getsockopt: Fn; bind: Fn; listen: Fn;
  getsockname: Fn; getpeername: Fn; connect: Fn; accept4: Fn;
  sendto: Fn; recvfrom: Fn; shutdown: Fn; close: Fn; poll: Fn;
  inet_pton: Fn; inet_ntop: Fn; unshare: Fn; getpid: Fn;
  /** `void *mmap(...)` / `int munmap(void *addr, size_t len)`: mmapable ARRAY map values. */
  mmap: Fn; munmap: Fn; getpagesize: Fn;
  /** errno of the call that just failed (read it before anything else runs). */
  errno(): number;
}

/** SYS_bpf by architecture (arch/x86/entry/syscalls/syscall_64.tbl, include/uapi/asm-generic/unistd.h). */
export const SYS_BPF: Partial<Record<string, number>> = { x64: 321, arm64: 280 };

let cached: Libc | undefined;
let loadError: Error | undefined;

/** Bind libc once; throws an Error explaining why when koffi or libc is unavailable. */
export function libc(): Libc {
  if (cached) return cached;
  if (loadError) throw loadError;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as Koffi;
    const lib = koffi.load('libc.so.6');
    cached = {
      koffi,
      syscall: lib.func('long syscall(long nr, long cmd, void *attr, unsigned long size)'),
      syscallInts: lib.func('long syscall(long nr, long a, long b, long c)'),
      socket: lib.func('int socket(int domain, int type, int protocol)'),
      setsockopt: lib.func('int setsockopt(int fd, int level, int optname, void *optval, uint32_t optlen)'),
      getsockopt: lib.func('int getsockopt(int fd, int level, int optname, void *optval, void *optlen)'),
      bind: lib.func('int bind(int fd, void *addr, uint32_t addrlen)'),
      listen: lib.func('int listen(int fd, int backlog)'),
      getsockname: lib.func('int getsockname(int fd, void *addr, void *addrlen)'),
      getpeername: lib.func('int getpeername(int fd, void *addr, void *addrlen)'),
      connect: lib.func('int connect(int fd, void *addr, uint32_t addrlen)'),
      accept4: lib.func('int accept4(int fd, void *addr, void *addrlen, int flags)'),
      sendto: lib.func('long sendto(int fd, void *buf, size_t len, int flags, void *addr, uint32_t addrlen)'),
      recvfrom: lib.func('long recvfrom(int fd, void *buf, size_t len, int flags, void *addr, void *addrlen)'),
      shutdown: lib.func('int shutdown(int fd, int how)'),
      close: lib.func('int close(int fd)'),
      poll: lib.func('int poll(void *fds, unsigned long nfds, int timeout)'),
      inet_pton: lib.func('int inet_pton(int af, const char *src, void *dst)'),
      inet_ntop: lib.func('const char *inet_ntop(int af, void *src, void *dst, uint32_t size)'),
      unshare: lib.func('int unshare(int flags)'),
      getpid: lib.func('int getpid()'),
      mmap: lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)'),
      munmap: lib.func('int munmap(void *addr, size_t len)'),
      getpagesize: lib.func('int getpagesize()'),
      errno: () => koffi.errno(),
    };
    return cached;
  } catch (e) {
    loadError = new Error(`koffi/libc unavailable: ${(e as Error).message}`);
    throw loadError;
  }
}
