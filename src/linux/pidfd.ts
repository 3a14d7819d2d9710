/**
 * pidfd_getfd(2): the primary borrows a worker's listening socket just long enough to put it
 * into the sockarray (and attach the program), then closes its copy, so it never holds a
 * duplicate that would keep the socket alive after the worker closes it. No Node IPC handle
 * passing: that would also register the socket in the primary's event loop, which could then
 * accept a connection meant for the worker.
 */
import { SysError } from '../kernel/index.js';
import { libc } from './libc.js';

/** x86_64 and the generic table (arm64) agree on these numbers. */
const SYS_PIDFD_OPEN = 434;
const SYS_PIDFD_GETFD = 438;

/** A copy, in this process, of fd `targetFd` of process `pid`. The caller must close it. */
export function borrowFd(pid: number, targetFd: number): number {
  const c = libc();
  const pidfd = Number(c.syscallInts(SYS_PIDFD_OPEN, pid, 0, 0));
  if (pidfd < 0) throw new SysError('pidfd_open', c.errno(), `worker pid ${pid}`);
  try {
    const fd = Number(c.syscallInts(SYS_PIDFD_GETFD, pidfd, targetFd, 0));
    if (fd < 0) throw new SysError('pidfd_getfd', c.errno(), `fd ${targetFd} of worker pid ${pid}`);
    return fd;
  } finally {
    c.close(pidfd);
  }
}

export function closeFd(fd: number): void {
  libc().close(fd);
}
