/**
 * A backend puts workers' sockets behind the group's policy. Three exist, one behaviour:
 * - kernel:   real per-worker SO_REUSEPORT sockets, REUSEPORT_SOCKARRAY + SK_REUSEPORT program
 *             (needs CAP_BPF; the primary creates maps/program, workers own their sockets);
 * - cbpf:     unprivileged Linux: per-worker SO_REUSEPORT sockets chosen by the kernel's hash;
 * - emulated: no privileges / not Linux: the primary holds one socket and runs the same policy
 *             bytecode in the simulator for each new connection or datagram, then hands it over.
 */
import type { Policy, SteerEntry } from '../policies/index.js';
import type { BackendKind, FromWorker, Proto } from './protocol.js';
import type { Worker } from './worker.js';
import type { Steering } from './steering.js';

/** What a backend may ask of its group. */
export interface BackendHost {
  readonly proto: Proto;
  readonly host: string;
  readonly port: number;
  /** Ready (steerable or draining) worker that owns a slot, if any. */
  workerAt(slot: number): Worker | undefined;
  /** Live workers (any state but stopped). */
  workers(): Worker[];
  warn(message: string): void;
}

export interface Backend {
  readonly kind: BackendKind;
  /** One line: why this backend was chosen. */
  readonly reason: string;
  /** Steering maps and program (kernel, emulated); undefined for the kernel's plain hash. */
  readonly steering: Steering | undefined;
  open(host: BackendHost): Promise<void>;
  /** Load and attach `policy`; a refusal throws GroupError EPOLICYLOAD and changes nothing. */
  setPolicy(policy: Policy): void;
  /** A worker reported it listens: make its socket part of the group. Throws on failure. */
  join(worker: Worker, msg: Extract<FromWorker, { rp: 'listening' }>): void;
  /** The steerable set changed (a worker joined, started draining or died). */
  steer(entries: readonly SteerEntry[]): void;
  setLoad(slot: number, load: number): void;
  /** The worker starts draining: nothing new may reach it. */
  drain(worker: Worker): void;
  /** The worker is gone (exited). */
  leave(worker: Worker): void;
  /** Emulated UDP: a worker's reply leaves through the shared socket. */
  send?(worker: Worker, msg: Extract<FromWorker, { rp: 'send' }>): void;
  close(): Promise<void>;
}
