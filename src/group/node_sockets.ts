/**
 * The worker's own SO_REUSEPORT sockets for the kernel backends, created through FFI (Node 20
 * has no reusePort) and handed to Node by fd (src/linux/node.ts). The worker owns the fd.
 */
import { SO_ATTACH_REUSEPORT_CBPF, SO_DETACH_REUSEPORT_BPF, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, SysError } from '../kernel/index.js';
import { acceptPending, createReuseportSocket, defaultKernel } from '../linux/index.js';
import type { ListenerFactory } from './worker_runtime.js';

export function listenerFactory(): ListenerFactory {
  const kernel = defaultKernel();
  // '::' is dual-stack (IPV6_V6ONLY off) so IPv4 clients reach the group too.
  const v6only = (host: string): boolean | undefined => (host.includes(':') ? false : undefined);
  return {
    tcp: (host, port, backlog) => createReuseportSocket(kernel, SOCK_STREAM, { host, port, backlog, ipv6Only: v6only(host) }),
    udp: (host, port) => createReuseportSocket(kernel, SOCK_DGRAM, { host, port, ipv6Only: v6only(host) }),
    acceptPending: (fd) => acceptPending(fd, 64, kernel),
    attachClassic: (fd, filter) => {
      if (filter.length > 0) {
        kernel.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, filter);
        return;
      }
      try {
        kernel.setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0);
      } catch (err) {
        if (!(err instanceof SysError && err.code === 'ENOENT')) throw err; // nothing attached
      }
    },
  };
}
