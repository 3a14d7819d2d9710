/**
 * Node 20 has no `reusePort`: create the SO_REUSEPORT socket through FFI (socket ->
 * setsockopt(SO_REUSEPORT) -> bind -> listen) and hand the fd to Node, which then owns it
 * (server.close() closes it, and the kernel empties its sockarray slot by itself).
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as C from '../kernel/constants.js';
import { ERRNO, SysError } from '../kernel/errno.js';
import type { Kernel } from '../kernel/kernel.js';
import { fdOf, type SocketLike } from '../kernel/socket_fd.js';
import { LinuxKernel } from './linux_kernel.js';

export { fdOf };

let shared: LinuxKernel | undefined;
/** The process-wide LinuxKernel used when a helper is given none. */
export function defaultKernel(): LinuxKernel {
  return (shared ??= new LinuxKernel());
}

export interface ReuseportServerOptions {
  /** Default '0.0.0.0'. An IPv6 address (or '::') makes an AF_INET6 socket. */
  host?: string;
  /** 0 picks an ephemeral port (the first socket of a group; the rest pass its port). */
  port: number;
  /** listen() backlog, default 511 (Node's default). */
  backlog?: number;
  /** IPV6_V6ONLY for AF_INET6 sockets. */
  ipv6Only?: boolean;
  /** Called with the fd after SO_REUSEPORT and before bind: e.g. attach a program pre-bind. */
  beforeBind?: (fd: number) => void;
}

export interface ReuseportDgramOptions extends Omit<ReuseportServerOptions, 'backlog'> {}

const familyOf = (host: string): number => (host.includes(':') ? C.AF_INET6 : C.AF_INET);

/**
 * A bound (and for TCP listening) SO_REUSEPORT socket created through `kernel`. The caller
 * owns the fd. Closes it again if any step fails.
 */
export function createReuseportSocket(kernel: Kernel, type: number, opts: ReuseportServerOptions): number {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('options must be an object with a port');
  const host = opts.host ?? '0.0.0.0';
  if (typeof host !== 'string') throw new TypeError(`host must be a string, got ${typeof host}`);
  const family = familyOf(host);
  const fd = kernel.socket(family, type, 0);
  try {
    kernel.setsockopt(fd, C.SOL_SOCKET, C.SO_REUSEPORT, 1);
    if (family === C.AF_INET6 && opts.ipv6Only !== undefined) kernel.setsockopt(fd, C.SOL_IPV6, C.IPV6_V6ONLY, opts.ipv6Only ? 1 : 0);
    opts.beforeBind?.(fd);
    kernel.bind(fd, host, opts.port);
    if (type === C.SOCK_STREAM) kernel.listen(fd, opts.backlog ?? 511);
    return fd;
  } catch (e) {
    kernel.close(fd);
    throw e;
  }
}

/**
 * A net.Server listening on a fresh SO_REUSEPORT socket. It is already listening in the kernel
 * when this returns (so it can go straight into a sockarray); Node emits 'listening' next tick.
 */
export function createReuseportServer(kernel: Kernel | undefined, opts: ReuseportServerOptions, connectionListener?: (s: net.Socket) => void): net.Server {
  const k = kernel ?? defaultKernel();
  const fd = createReuseportSocket(k, C.SOCK_STREAM, opts);
  const server = net.createServer(connectionListener);
  try {
    server.listen({ fd, backlog: opts.backlog ?? 511 });
  } catch (e) {
    k.close(fd);
    throw e;
  }
  return server;
}

/**
 * A dgram.Socket bound on a fresh SO_REUSEPORT socket ('udp6' when host is IPv6). It is bound
 * on return: Node's bind({ fd }) emits 'listening' synchronously, before a caller could listen.
 */
export function createReuseportDgram(kernel: Kernel | undefined, opts: ReuseportDgramOptions, messageListener?: (msg: Buffer, rinfo: dgram.RemoteInfo) => void): dgram.Socket {
  const k = kernel ?? defaultKernel();
  const fd = createReuseportSocket(k, C.SOCK_DGRAM, opts);
  const socket = dgram.createSocket(familyOf(opts.host ?? '0.0.0.0') === C.AF_INET6 ? 'udp6' : 'udp4', messageListener);
  try {
    socket.bind({ fd });
  } catch (e) {
    k.close(fd);
    throw e;
  }
  return socket;
}

/**
 * Accept what is queued on listening socket `fd` right now, without waiting: non-blocking
 * accept4() until EAGAIN or `max` connections. The caller owns the returned fds (non-blocking,
 * close-on-exec). For connections the kernel migrated into this listener without a wakeup
 * (5.14 up to upstream 3864c6ba1e04), which Node's epoll-driven accept loop would not see.
 * A closed or non-listening fd yields [] (the sweep it serves is best effort by design).
 */
export function acceptPending(fd: number, max = 64, kernel?: Kernel): number[] {
  if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`fd must be a non-negative integer, got ${String(fd)}`);
  if (!Number.isInteger(max) || max < 1) throw new TypeError(`max must be a positive integer, got ${String(max)}`);
  const k = kernel ?? defaultKernel();
  const out: number[] = [];
  for (let tries = 0; out.length < max && tries < 2 * max; tries++) {
    try {
      out.push(k.accept(fd));
    } catch (e) {
      // A child reset while queued (ECONNABORTED, EPROTO=71) or EINTR: skip it, try the next.
      if (e instanceof SysError && (e.errno === ERRNO.ECONNABORTED || e.errno === 71 || e.errno === ERRNO.EINTR)) continue;
      // EAGAIN: queue empty. EBADF/EINVAL/ENOTSOCK: the listener is gone or not listening.
      if (e instanceof SysError) break;
      throw e;
    }
  }
  return out;
}

/**
 * Throw a clear error unless `socket` has SO_REUSEPORT set: a socket without it is never in a
 * reuseport group, so the kernel would refuse it in a sockarray with a bare EINVAL.
 */
export function assertReuseport(kernel: Kernel, socket: SocketLike): number {
  const fd = fdOf(socket);
  const b = kernel.getsockopt(fd, C.SOL_SOCKET, C.SO_REUSEPORT, 4);
  const on = b.length >= 4 ? new DataView(b.buffer, b.byteOffset, b.byteLength).getInt32(0, true) : 0;
  if (!on) throw new SysError('getsockopt(SO_REUSEPORT)', 22, `fd ${fd} does not have SO_REUSEPORT set: create it with createReuseportServer/createReuseportDgram`);
  return fd;
}
