/**
 * IPC between the primary and a worker. Every message carries `rp` (the verb) so that a user's
 * own process.send() traffic passes through untouched, as cluster's NODE_ messages do.
 */

export type Proto = 'tcp' | 'udp';
export type BackendKind = 'kernel' | 'cbpf' | 'hash' | 'emulated';

/** Live counters a worker publishes with every heartbeat reply. */
export interface WorkerStats {
  /** TCP connections accepted since start. */
  connections: number;
  /** TCP connections open now. */
  active: number;
  /** UDP datagrams received since start. */
  datagrams: number;
  /** What least-loaded compares: open connections (TCP) or datagrams in the last interval (UDP). */
  load: number;
  /** Event-loop utilisation 0..1 over the last interval. */
  elu: number;
}

/** Environment the primary sets for a worker (all strings, as env is). */
export const ENV = {
  worker: 'REUSEPORT_WORKER',
  id: 'REUSEPORT_WORKER_ID',
  port: 'REUSEPORT_PORT',
  host: 'REUSEPORT_HOST',
  proto: 'REUSEPORT_PROTO',
  backend: 'REUSEPORT_BACKEND',
  backlog: 'REUSEPORT_BACKLOG',
} as const;

// primary -> worker
export type ToWorker =
  | { rp: 'ping'; seq: number }
  | { rp: 'drain'; graceMs: number; flowIdleMs: number }
  | { rp: 'conn' }                         // + net.Socket handle (emulated TCP)
  | { rp: 'dgram'; data: Uint8Array; address: string; family: string; port: number }
  | { rp: 'sent'; id: number; error?: string }
  /** cbpf backend: attach this classic program (empty: detach) through your own socket. */
  | { rp: 'attach-cbpf'; filter: Uint8Array; workers: number }
  /** Another worker's TCP listener just closed: accept what migrated here for `ms` (migration_sweep.ts). */
  | { rp: 'sweep'; ms: number };

// worker -> primary
export type FromWorker =
  | { rp: 'listening'; proto: Proto; fd: number; port: number; address: string }
  | { rp: 'listen-error'; code: string; message: string }
  | { rp: 'pong'; seq: number; stats: WorkerStats }
  | { rp: 'load'; load: number; stats: WorkerStats }
  | { rp: 'drained' }
  /** Draining: this worker has just closed its TCP listeners (the kernel migrates their queues). */
  | { rp: 'listeners-closed' }
  | { rp: 'warn'; message: string }
  | { rp: 'cbpf-attached'; workers: number }
  | { rp: 'send'; id: number; data: Uint8Array; address: string; port: number };

export function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && typeof (m as { rp?: unknown }).rp === 'string';
}
export function isToWorker(m: unknown): m is ToWorker {
  return typeof m === 'object' && m !== null && typeof (m as { rp?: unknown }).rp === 'string';
}
