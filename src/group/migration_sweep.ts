/**
 * The migration sweep. When a draining worker closes its listener, SELECT_OR_MIGRATE (or
 * net.ipv4.tcp_migrate_req) moves the connections still queued on it into another worker's
 * listener. Before upstream fix 3864c6ba1e04 (kernels 5.14 up to that fix) the moved children
 * raise no wakeup on their new listener, so Node's epoll-driven accept loop only finds them when
 * some later connection arrives: at low load, never. So for a short while after a listener
 * closes, every live worker also accepts from its own listening fd itself (non-blocking accept4,
 * one syscall per tick when the queue is empty) and hands each connection to its server exactly
 * as libuv's onconnection would. Racing libuv is harmless: the kernel gives each child to one
 * accept() only.
 */
import net from 'node:net';
import { closeSync } from 'node:fs';

/** Non-blocking accept of everything queued on a listening fd (src/linux acceptPending). */
export type AcceptPending = (fd: number) => number[];

export interface SweepTarget {
  server: net.Server;
  /** The server's listening fd (this worker's own SO_REUSEPORT socket). */
  fd: number;
}

type ServerInternals = net.Server & {
  _connections: number;
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  /** seconds (net.Server stores it divided by 1000) */
  keepAliveInitialDelay?: number;
};

/**
 * Give accepted connection fds to `server` the way net's onconnection does: same socket options,
 * the server's connection count (so close() waits for them), then 'connection' (http.Server and
 * the worker's counters listen there). Returns how many were delivered.
 */
export function deliverAccepted(server: net.Server, fds: readonly number[]): number {
  const s = server as ServerInternals;
  let delivered = 0;
  for (const fd of fds) {
    if (s.maxConnections && s._connections >= s.maxConnections) {
      closeSync(fd); // as libuv's path does over maxConnections
      continue;
    }
    let socket: net.Socket;
    try {
      socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: s.allowHalfOpen === true, pauseOnCreate: s.pauseOnConnect === true } as net.SocketConstructorOpts);
    } catch {
      try { closeSync(fd); } catch { /* already gone */ }
      continue;
    }
    if (s.noDelay) socket.setNoDelay(true);
    if (s.keepAlive) socket.setKeepAlive(true, (s.keepAliveInitialDelay ?? 0) * 1000);
    s._connections++;
    (socket as net.Socket & { server: net.Server; _server: net.Server }).server = server;
    (socket as net.Socket & { _server: net.Server })._server = server;
    server.emit('connection', socket);
    delivered++;
  }
  return delivered;
}

/** One pass: accept what is queued on `t.fd` and deliver it. Nothing once the server closed. */
export function sweepOnce(t: SweepTarget, accept: AcceptPending): number {
  // server.close() drops the handle (and closes the fd) at once: the number may be reused.
  if (!t.server.listening) return 0;
  return deliverAccepted(t.server, accept(t.fd));
}

/**
 * A bounded sweep: every `intervalMs` until `run(ms)`'s window ends (a new run extends it), one
 * pass over the current targets. Unref'd: never keeps a worker alive.
 */
export class MigrationSweep {
  private timer: NodeJS.Timeout | undefined;
  private until = 0;
  /** Connections this sweep delivered (libuv had not accepted them yet). */
  delivered = 0;

  constructor(
    private readonly targets: () => SweepTarget[],
    private readonly accept: AcceptPending,
    private readonly intervalMs = 10,
  ) {}

  get running(): boolean {
    return this.timer !== undefined;
  }

  run(ms: number): void {
    this.until = Math.max(this.until, Date.now() + ms);
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
    this.tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.until = 0;
  }

  private tick(): void {
    for (const t of this.targets()) {
      try {
        this.delivered += sweepOnce(t, this.accept);
      } catch {
        // best effort: libuv still accepts whatever wakes it
      }
    }
    if (Date.now() >= this.until) this.stop();
  }
}
