/**
 * The worker side of a group, loaded before the user's script (`--import` preload, so it works
 * for CommonJS and ESM alike). Like cluster's child.js it intercepts net.Server#listen and
 * dgram.Socket#bind; unlike cluster, a listen on the group's port is served by this worker's
 * own SO_REUSEPORT socket (kernel backends) or by connections/datagrams the primary hands over
 * (emulated backend). Listens on any other port pass through untouched.
 */
import net from 'node:net';
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { ENV, isToWorker, type BackendKind, type FromWorker, type Proto, type ToWorker, type WorkerStats } from './protocol.js';
import { parseBindArgs, parseListenArgs, type ListenRequest } from './listen_args.js';
import { MigrationSweep, type SweepTarget } from './migration_sweep.js';

type AnyFn = (...a: any[]) => any;

/** Opens this worker's SO_REUSEPORT socket (kernel backends); implemented over koffi in src/linux. */
export interface ListenerFactory {
  tcp(host: string, port: number, backlog: number): number;
  udp(host: string, port: number): number;
  /** SO_ATTACH_REUSEPORT_CBPF with sock_filter bytes; empty: SO_DETACH_REUSEPORT_BPF. */
  attachClassic(fd: number, filter: Uint8Array): void;
  /** Non-blocking accept of what is queued on a listening fd now (the migration sweep). */
  acceptPending(fd: number): number[];
}

interface Intercepted {
  kind: Proto;
  server?: net.Server;
  socket?: dgram.Socket;
  /** Emulated TCP: the fake listening handle whose onconnection gets the handed-over sockets. */
  fake?: FakeHandle;
  /** Kernel backends: this worker's own SO_REUSEPORT socket. */
  fd?: number;
  closed: boolean;
}

interface FakeHandle {
  onconnection: ((err: number, handle: unknown) => void) | null;
  listen(): number;
  close(cb?: () => void): void;
  ref(): void;
  unref(): void;
  getsockname(out: Record<string, unknown>): number;
}

const stats: WorkerStats = { connections: 0, active: 0, datagrams: 0, load: 0, elu: 0 };
let datagramsAtLastPing = 0;
let lastElu = performance.eventLoopUtilization();
const intercepted: Intercepted[] = [];
let draining = false;
let drainedSent = false;
let loadTimer: NodeJS.Timeout | undefined;
const pendingSends = new Map<number, (err: Error | null) => void>();
let sendSeq = 0;

function send(msg: FromWorker, handle?: unknown): void {
  if (!process.connected || !process.send) return;
  try {
    (process.send as AnyFn)(msg, handle);
  } catch {
    // channel closing: the primary is going away, nothing to report to
  }
}

const groupPort = Number(process.env[ENV.port]);
const groupHost = process.env[ENV.host] ?? '::';
const groupProto = (process.env[ENV.proto] ?? 'tcp') as Proto;
const backend = (process.env[ENV.backend] ?? 'emulated') as BackendKind;
const defaultBacklog = Number(process.env[ENV.backlog] ?? 511);

/** Publish load and counters quickly (least-loaded reads them, stats() shows them), at most every 10 ms. */
function loadChanged(): void {
  stats.load = stats.active;
  publish();
}

function publish(): void {
  if (loadTimer) return;
  loadTimer = setTimeout(() => {
    loadTimer = undefined;
    send({ rp: 'load', load: stats.load, stats: { ...stats } });
  }, 10);
  loadTimer.unref();
}

function trackServer(server: net.Server): void {
  server.on('connection', (sock: net.Socket) => {
    stats.connections++;
    stats.active++;
    loadChanged();
    sock.once('close', () => {
      stats.active--;
      loadChanged();
      maybeDrained();
    });
  });
  // A draining http server tells keep-alive clients to go elsewhere for their next request.
  server.prependListener('request' as 'connection', ((_req: unknown, res: { shouldKeepAlive: boolean }) => {
    if (draining) res.shouldKeepAlive = false;
  }) as unknown as (s: net.Socket) => void);
}

let factory: ListenerFactory | undefined;
async function loadFactory(): Promise<ListenerFactory> {
  if (factory) return factory;
  const mod = (await import('./node_sockets.js')) as { listenerFactory(): ListenerFactory };
  factory = mod.listenerFactory();
  return factory;
}

function familyOf(host: string): 'IPv4' | 'IPv6' {
  return net.isIPv6(host) ? 'IPv6' : 'IPv4';
}

function makeFakeHandle(entry: Intercepted): FakeHandle {
  // Holds the event loop like a real listening handle would.
  let keepAlive: NodeJS.Timeout | undefined = setInterval(() => {}, 2 ** 31 - 1);
  return {
    onconnection: null,
    listen: () => 0,
    close(cb) {
      entry.closed = true;
      if (keepAlive) clearInterval(keepAlive);
      keepAlive = undefined;
      maybeDrained();
      if (cb) process.nextTick(cb);
    },
    ref() {
      if (!keepAlive) keepAlive = setInterval(() => {}, 2 ** 31 - 1);
    },
    unref() {
      if (keepAlive) clearInterval(keepAlive);
      keepAlive = undefined;
    },
    getsockname(out) {
      out.address = groupHost;
      out.port = groupPort;
      out.family = familyOf(groupHost);
      return 0;
    },
  };
}

function listenIntercepted(server: net.Server, req: ListenRequest, origListen: AnyFn): net.Server {
  const entry: Intercepted = { kind: 'tcp', server, closed: false };
  intercepted.push(entry);
  trackServer(server);
  server.once('close', () => {
    entry.closed = true;
    maybeDrained();
  });
  if (req.callback) server.once('listening', req.callback);
  const backlog = req.backlog ?? defaultBacklog;
  if (backend === 'emulated') {
    const fake = makeFakeHandle(entry);
    entry.fake = fake;
    const s = server as unknown as { _handle: unknown; _listen2: AnyFn };
    s._handle = fake;
    // net's own setupListenHandle: takes the handle we set, wires onconnection, emits 'listening'.
    s._listen2(groupHost, groupPort, net.isIPv6(groupHost) ? 6 : 4, backlog, -1);
    server.once('listening', () => send({ rp: 'listening', proto: 'tcp', fd: -1, port: groupPort, address: groupHost }));
    return server;
  }
  loadFactory().then(
    (f) => {
      let fd: number;
      try {
        fd = f.tcp(groupHost, groupPort, backlog);
      } catch (err) {
        reportListenError(server, err);
        return;
      }
      entry.fd = fd;
      server.once('listening', () => send({ rp: 'listening', proto: 'tcp', fd, port: groupPort, address: groupHost }));
      origListen.call(server, { fd, backlog });
    },
    (err) => reportListenError(server, err),
  );
  return server;
}

function reportListenError(target: net.Server | dgram.Socket, err: unknown): void {
  const e = err as { code?: string; message?: string };
  send({ rp: 'listen-error', code: String(e.code ?? 'ERR'), message: String(e.message ?? err) });
  const error = err instanceof Error ? err : new Error(String(err));
  process.nextTick(() => target.emit('error', error));
}

function bindIntercepted(socket: dgram.Socket, req: ListenRequest, origBind: AnyFn): dgram.Socket {
  const entry: Intercepted = { kind: 'udp', socket, closed: false };
  intercepted.push(entry);
  socket.on('message', () => {
    stats.datagrams++;
    publish();
  });
  socket.once('close', () => {
    entry.closed = true;
    maybeDrained();
  });
  if (req.callback) socket.once('listening', req.callback);
  if (backend === 'emulated') {
    emulateDgram(socket, entry);
    process.nextTick(() => {
      socket.emit('listening');
      send({ rp: 'listening', proto: 'udp', fd: -1, port: groupPort, address: groupHost });
    });
    return socket;
  }
  loadFactory().then(
    (f) => {
      let fd: number;
      try {
        fd = f.udp(groupHost, groupPort);
      } catch (err) {
        reportListenError(socket, err);
        return;
      }
      entry.fd = fd;
      socket.once('listening', () => send({ rp: 'listening', proto: 'udp', fd, port: groupPort, address: groupHost }));
      origBind.call(socket, { fd });
    },
    (err) => reportListenError(socket, err),
  );
  return socket;
}

/** Emulated UDP: datagrams arrive over IPC, replies leave through the primary's shared socket. */
function emulateDgram(socket: dgram.Socket, entry: Intercepted): void {
  const s = socket as unknown as Record<string, AnyFn>;
  s.address = () => ({ address: groupHost, family: familyOf(groupHost), port: groupPort });
  s.send = (msg: unknown, ...rest: unknown[]) => {
    let cb = typeof rest[rest.length - 1] === 'function' ? (rest.pop() as (e: Error | null, n?: number) => void) : undefined;
    let data: Buffer;
    let port: number;
    let address: string | undefined;
    const toBuf = (m: unknown): Buffer =>
      Array.isArray(m) ? Buffer.concat(m.map((x) => toBuf(x))) : typeof m === 'string' ? Buffer.from(m) : Buffer.from(m as Uint8Array);
    if (rest.length >= 3 && typeof rest[0] === 'number' && typeof rest[1] === 'number' && typeof rest[2] === 'number') {
      const all = toBuf(msg);
      data = all.subarray(rest[0], rest[0] + rest[1]);
      port = rest[2];
      address = rest[3] as string | undefined;
    } else {
      data = toBuf(msg);
      port = Number(rest[0]);
      address = rest[1] as string | undefined;
    }
    if (entry.closed) {
      const err = Object.assign(new Error('Not running'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
      if (cb) return process.nextTick(cb, err);
      throw err;
    }
    const id = ++sendSeq;
    if (cb) {
      const done = cb;
      pendingSends.set(id, (err) => done(err, err ? undefined : data.length));
      cb = undefined;
    }
    send({ rp: 'send', id, data, address: address ?? (familyOf(groupHost) === 'IPv6' ? '::1' : '127.0.0.1'), port });
  };
  s.close = (cb?: () => void) => {
    if (entry.closed) return socket;
    entry.closed = true;
    if (cb) socket.once('close', cb);
    process.nextTick(() => socket.emit('close'));
    return socket;
  };
  s.ref = () => socket;
  s.unref = () => socket;
  s.setBroadcast = () => {};
  s.setTTL = (t: number) => t;
}

function deliverDatagram(m: Extract<ToWorker, { rp: 'dgram' }>): void {
  const entry = intercepted.find((e) => e.kind === 'udp' && !e.closed);
  if (!entry?.socket) return;
  const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  entry.socket.emit('message', data, { address: m.address, family: m.family, port: m.port, size: data.length });
}

function deliverConnection(handle: unknown): void {
  const entry = intercepted.find((e) => e.kind === 'tcp' && e.fake && !e.closed);
  if (!entry?.fake?.onconnection) {
    // Nobody listens any more (drained between steering and delivery): refuse politely.
    (handle as { close?: () => void }).close?.();
    return;
  }
  entry.fake.onconnection(0, handle);
}

/**
 * Kernel backends: connections migrated from a closed listener into ours may raise no wakeup
 * on older kernels (see migration_sweep.ts), so accept them ourselves for a while.
 */
const sweep = new MigrationSweep(
  () => intercepted.flatMap((e): SweepTarget[] => (e.kind === 'tcp' && !e.closed && e.server && e.fd !== undefined ? [{ server: e.server, fd: e.fd }] : [])),
  (fd) => factory?.acceptPending(fd) ?? [],
);

function allClosed(): boolean {
  return intercepted.every((e) => e.closed) && stats.active === 0;
}

function maybeDrained(): void {
  if (!draining || drainedSent || !allClosed()) return;
  drainedSent = true;
  send({ rp: 'drained' });
}

/**
 * Drain: the primary has already stopped steering new connections here. Keep accepting what was
 * already queued for `graceMs`, then close the listeners (kernel migration moves any rest) and
 * let open connections finish. UDP: wait until flows have been idle for `flowIdleMs`.
 */
function drain(graceMs: number, flowIdleMs: number): void {
  if (draining) return;
  draining = true;
  const closeTcp = (): void => {
    for (const e of intercepted) {
      if (e.kind !== 'tcp' || e.closed || !e.server) continue;
      const srv = e.server as net.Server & { closeIdleConnections?: () => void };
      srv.close();
      srv.closeIdleConnections?.();
    }
    sweep.stop();
    // The primary tells the other workers to sweep for what the kernel migrates to them.
    if (intercepted.some((e) => e.kind === 'tcp' && e.fd !== undefined)) send({ rp: 'listeners-closed' });
    maybeDrained();
  };
  setTimeout(closeTcp, graceMs).unref();
  if (intercepted.some((e) => e.kind === 'udp')) {
    let seen = stats.datagrams;
    const tick = setInterval(() => {
      if (stats.datagrams !== seen) {
        seen = stats.datagrams;
        return;
      }
      clearInterval(tick);
      for (const e of intercepted) if (e.kind === 'udp' && !e.closed) e.socket?.close();
      maybeDrained();
    }, Math.max(5, flowIdleMs));
    tick.unref();
  }
  maybeDrained();
}

function onMessage(msg: unknown, handle: unknown): void {
  if (!isToWorker(msg)) return;
  switch (msg.rp) {
    case 'ping': {
      const elu = performance.eventLoopUtilization(lastElu);
      lastElu = performance.eventLoopUtilization();
      stats.elu = elu.utilization;
      if (groupProto === 'udp') {
        stats.load = stats.datagrams - datagramsAtLastPing;
        datagramsAtLastPing = stats.datagrams;
      }
      send({ rp: 'pong', seq: msg.seq, stats: { ...stats } });
      break;
    }
    case 'conn':
      deliverConnection(handle);
      break;
    case 'dgram':
      deliverDatagram(msg);
      break;
    case 'sent': {
      const done = pendingSends.get(msg.id);
      pendingSends.delete(msg.id);
      done?.(msg.error ? new Error(msg.error) : null);
      break;
    }
    case 'drain':
      drain(msg.graceMs, msg.flowIdleMs);
      break;
    case 'sweep':
      if (backend !== 'emulated') sweep.run(Math.min(Math.max(0, Number(msg.ms) || 0), 10_000));
      break;
    case 'attach-cbpf': {
      const entry = intercepted.find((e) => !e.closed && e.fd !== undefined);
      if (!entry || !factory) break;
      try {
        factory.attachClassic(entry.fd!, msg.filter);
        send({ rp: 'cbpf-attached', workers: msg.workers });
      } catch (err) {
        send({ rp: 'warn', message: `worker ${process.env[ENV.id]}: classic program not attached: ${(err as Error).message}` });
      }
      break;
    }
  }
}

/** Install the interception once; a no-op outside a group worker. */
export function install(): void {
  if (process.env[ENV.worker] !== '1' || !process.send) return;
  const g = globalThis as { __reuseportWorker?: boolean };
  if (g.__reuseportWorker) return;
  g.__reuseportWorker = true;

  const origListen = net.Server.prototype.listen as AnyFn;
  net.Server.prototype.listen = function listen(this: net.Server, ...args: unknown[]) {
    const req = groupProto === 'tcp' ? parseListenArgs(args) : undefined;
    if (!req || req.port !== groupPort) return origListen.apply(this, args);
    return listenIntercepted(this, req, origListen);
  } as typeof net.Server.prototype.listen;

  const origBind = dgram.Socket.prototype.bind as AnyFn;
  dgram.Socket.prototype.bind = function bind(this: dgram.Socket, ...args: unknown[]) {
    const req = groupProto === 'udp' ? parseBindArgs(args) : undefined;
    if (!req || req.port !== groupPort) return origBind.apply(this, args);
    return bindIntercepted(this, req, origBind);
  } as typeof dgram.Socket.prototype.bind;

  process.on('message', onMessage);
  // The primary went away (crash or shutdown): a worker never outlives its group.
  process.once('disconnect', () => process.exit(draining ? 0 : 1));
}
