/**
 * pidfd_getfd(2): the primary borrows a worker's listening socket just long enough to put it
 * into the sockarray (and attach the program), then closes its copy, so it never holds a
 * duplicate that would keep the socket alive after the worker closes it. No Node IPC handle
 * passing: that would also register the socket in the primary's event loop, which could then
 * accept a connection meant for the worker.
 */
import { createRequire } from 'node:module';
import { SysError } from '../kernel/index.js';

/** x86_64 and the generic table (arm64) agree on these numbers. */
const SYS_PIDFD_OPEN = 434;
const SYS_PIDFD_GETFD = 438;

type Fn = (...a: number[]) => number;
let bound: { syscall: Fn; close: Fn; errno: () => number } | undefined;

function bind(): NonNullable<typeof bound> {
  if (bound) return bound;
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as typeof import('koffi');
  const lib = koffi.load('libc.so.6');
  bound = {
    syscall: lib.func('long syscall(long nr, long a, long b, long c)') as Fn,
    close: lib.func('int close(int fd)') as Fn,
    errno: () => koffi.errno(),
  };
  return bound;
}

/** A copy, in this process, of fd `targetFd` of process `pid`. The caller must close it. */
export function borrowFd(pid: number, targetFd: number): number {
  const c = bind();
  const pidfd = Number(c.syscall(SYS_PIDFD_OPEN, pid, 0, 0));
  if (pidfd < 0) throw new SysError('pidfd_open', c.errno(), `worker pid ${pid}`);
  try {
    const fd = Number(c.syscall(SYS_PIDFD_GETFD, pidfd, targetFd, 0));
    if (fd < 0) throw new SysError('pidfd_getfd', c.errno(), `fd ${targetFd} of worker pid ${pid}`);
    return fd;
  } finally {
    c.close(pidfd);
  }
}

export function closeFd(fd: number): void {
  bind().close(fd);
}
