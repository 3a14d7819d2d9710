/**
 * The emulated backend (no bpf() privilege, or not Linux): the primary holds the one real
 * listening socket and, for every new TCP connection or UDP datagram, runs the SAME policy
 * bytecode in the simulated kernel against a context built from the real 4-tuple (a synthetic
 * Linux-layout SYN / UDP header, the simulator's hash). The simulated group holds one socket per
 * worker slot in a REUSEPORT_SOCKARRAY, exactly as the kernel backend does with real sockets.
 * TCP connections are handed to the chosen worker over IPC (like cluster's SCHED_RR); UDP
 * datagrams are forwarded and replies leave through the shared socket.
 */
import net from 'node:net';
import dgram from 'node:dgram';
import type { Policy, SteerEntry } from '../policies/index.js';
import type { Backend, BackendHost } from './backend.js';
import { GroupError } from './errors.js';
import { portInUseError } from './port_check.js';
import type { FromWorker, Proto } from './protocol.js';
import { SimSelector } from './sim_selector.js';
import { Steering } from './steering.js';
import type { Worker } from './worker.js';

/** Connections that arrive while no worker can take one wait this long, then are closed. */
const PENDING_MAX = 1024;

export class EmulatedBackend implements Backend {
  readonly kind = 'emulated' as const;
  readonly reason: string;
  readonly proto: Proto;
  steering: Steering | undefined;
  private host: BackendHost | undefined;
  private selector: SimSelector | undefined;
  private server: net.Server | undefined;
  private udp: dgram.Socket | undefined;
  private readonly pending: net.Socket[] = [];
  /** Connections handed over, per slot (what the selector decided). */
  readonly handedOver = new Map<number, number>();

  constructor(reason: string, proto: Proto) {
    this.reason = reason;
    this.proto = proto;
  }

  async open(host: BackendHost): Promise<void> {
    this.host = host;
    this.selector = await SimSelector.create(host.proto, host.host, host.port);
    this.steering = new Steering(this.selector.kernel, host.proto);
    if (host.proto === 'tcp') await this.listenTcp(host);
    else await this.bindUdp(host);
  }

  private listenTcp(host: BackendHost): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ pauseOnConnect: true });
      server.on('connection', (sock) => this.dispatch(sock));
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'EADDRINUSE' ? portInUseError('tcp', host.host, host.port, err.code) : new GroupError('EINVALIDOPTION', `cannot listen on ${host.host} port ${host.port}: ${err.message}`, { cause: err }));
      });
      server.listen({ host: host.host, port: host.port, ipv6Only: false, exclusive: true }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => host.warn(`listening socket: ${err.message}`));
        this.server = server;
        resolve();
      });
    });
  }

  private bindUdp(host: BackendHost): Promise<void> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({ type: net.isIPv6(host.host) ? 'udp6' : 'udp4', ipv6Only: false });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        sock.close();
        reject(err.code === 'EADDRINUSE' ? portInUseError('udp', host.host, host.port, err.code) : new GroupError('EINVALIDOPTION', `cannot bind ${host.host} port ${host.port}: ${err.message}`, { cause: err }));
      });
      sock.on('message', (data, rinfo) => this.datagram(data, rinfo));
      sock.bind({ address: host.host, port: host.port, exclusive: true }, () => {
        sock.removeAllListeners('error');
        sock.on('error', (err) => host.warn(`UDP socket: ${err.message}`));
        this.udp = sock;
        resolve();
      });
    });
  }

  /** Run the policy for this 4-tuple: the worker whose slot the program selected. */
  private choose(saddr: string, sport: number, daddr: string): Worker | undefined {
    const slot = this.selector!.select(saddr, sport, daddr);
    if (slot === undefined) return undefined;
    return this.host!.workerAt(slot);
  }

  private dispatch(sock: net.Socket): void {
    const w = this.choose(sock.remoteAddress ?? '::', sock.remotePort ?? 0, sock.localAddress ?? '::');
    if (!w || w.state !== 'ready') {
      // No worker to take it yet (all restarting): hold it, like cluster's pending handles.
      if (this.pending.length >= PENDING_MAX) sock.destroy();
      else this.pending.push(sock);
      return;
    }
    this.handOver(sock, w);
  }

  private handOver(sock: net.Socket, w: Worker): void {
    // Hand over the bare TCP handle (what cluster's round-robin does): the worker wraps it in
    // its own server's 'connection'. Our net.Socket never read from it (pauseOnConnect).
    const s = sock as net.Socket & { _handle: { close(): void } | null; _server: { _connections: number } | null };
    const handle = s._handle;
    if (!handle) return;
    s._handle = null;
    if (s._server) s._server._connections--;
    s._server = null;
    w.handedOver++;
    this.handedOver.set(w.slot, (this.handedOver.get(w.slot) ?? 0) + 1);
    // Once written, the fd travelled with the message (SCM_RIGHTS): close our copy.
    w.send({ rp: 'conn' }, handle, () => handle.close());
  }

  private flushPending(): void {
    while (this.pending.length > 0) {
      const sock = this.pending[0]!;
      if (sock.destroyed) {
        this.pending.shift();
        continue;
      }
      const w = this.choose(sock.remoteAddress ?? '::', sock.remotePort ?? 0, sock.localAddress ?? '::');
      if (!w || w.state !== 'ready') return;
      this.pending.shift();
      this.handOver(sock, w);
    }
  }

  private datagram(data: Buffer, rinfo: dgram.RemoteInfo): void {
    const addr = this.udp!.address();
    const w = this.choose(rinfo.address, rinfo.port, addr.address);
    // UDP has no queue to hold datagrams in: without a worker it is dropped, as the kernel would.
    if (!w || (w.state !== 'ready' && w.state !== 'draining')) return;
    w.handedOver++;
    w.send({ rp: 'dgram', data, address: rinfo.address, family: rinfo.family, port: rinfo.port });
  }

  send(w: Worker, msg: Extract<FromWorker, { rp: 'send' }>): void {
    const sock = this.udp;
    if (!sock) {
      w.send({ rp: 'sent', id: msg.id, error: 'group socket closed' });
      return;
    }
    const data = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
    sock.send(data, msg.port, msg.address, (err) => {
      w.send({ rp: 'sent', id: msg.id, ...(err ? { error: err.message } : {}) });
    });
  }

  setPolicy(policy: Policy): void {
    const s = this.steering!;
    const next = s.load(policy);
    try {
      this.selector!.attach(next.fd);
    } catch (err) {
      try { this.selector!.kernel.close(next.fd); } catch { /* closed */ }
      throw new GroupError('EPOLICYLOAD', `policy '${policy.name}' loaded but could not be attached: ${(err as Error).message}`, { cause: err });
    }
    s.commit(next);
  }

  join(w: Worker): void {
    const fd = this.selector!.addSlot(w.slot);
    this.steering!.setSocket(w.slot, fd);
    this.selector!.attach(this.steering!.program!.fd);
  }

  steer(entries: readonly SteerEntry[]): void {
    this.steering?.setSteerable(entries);
    if (entries.length > 0) queueMicrotask(() => this.flushPending());
  }

  setLoad(slot: number, load: number): void {
    this.steering?.setLoad(slot, load);
  }

  drain(w: Worker): void {
    // TCP: the primary accepts, so a draining worker has no queue to empty: take its simulated
    // socket out of the group now and nothing (not even the hash fallback) can pick it.
    // UDP: keep it until the worker exits, so its existing flows keep reaching it.
    if (this.proto === 'tcp') this.selector?.removeSlot(w.slot);
  }

  leave(w: Worker): void {
    this.selector?.removeSlot(w.slot);
  }

  async close(): Promise<void> {
    for (const s of this.pending.splice(0)) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    await new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r()));
    this.server = undefined;
    this.udp = undefined;
    this.steering?.close();
    this.steering = undefined;
    this.selector?.close();
  }
}
