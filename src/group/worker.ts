/**
 * The primary's view of one worker process: spawn with the listen-interception preload,
 * lifecycle state, heartbeat bookkeeping and the last stats it published.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { ENV, isFromWorker, type BackendKind, type FromWorker, type Proto, type ToWorker, type WorkerStats } from './protocol.js';

export type WorkerState = 'starting' | 'ready' | 'draining' | 'stopped';

export interface SpawnSpec {
  script: string;
  args: readonly string[];
  execArgv: readonly string[];
  env: NodeJS.ProcessEnv;
  port: number;
  host: string;
  proto: Proto;
  backend: BackendKind;
  backlog: number;
  uid?: number;
  gid?: number;
  /** 'inherit': the worker writes to our stdout/stderr; 'pipe': the caller reads them. */
  stdio: 'inherit' | 'pipe';
}

/** Public snapshot of a worker (what stats() and events carry). */
export interface WorkerInfo {
  id: number;
  pid: number | undefined;
  slot: number;
  generation: number;
  state: WorkerState;
  startedAt: number;
  stats: WorkerStats;
}

const PRELOAD = new URL('./worker_preload.js', import.meta.url).href;
const STDERR_TAIL = 4096;

export class Worker extends EventEmitter {
  readonly id: number;
  readonly slot: number;
  readonly generation: number;
  readonly process: ChildProcess;
  state: WorkerState = 'starting';
  readonly startedAt = Date.now();
  stats: WorkerStats = { connections: 0, active: 0, datagrams: 0, load: 0, elu: 0 };
  /** Set by the primary while it steers connections here (emulated): counts what was handed over. */
  handedOver = 0;
  lastPong = Date.now();
  pingSeq = 0;
  /** fd number of the worker's listening socket in the worker's own fd table (kernel backends). */
  listenFd = -1;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  /** Last bytes the worker wrote to stderr: the reason it died, for error messages. */
  stderrTail = '';
  private exited: Promise<void>;

  constructor(id: number, slot: number, generation: number, spec: SpawnSpec) {
    super();
    this.id = id;
    this.slot = slot;
    this.generation = generation;
    const env: NodeJS.ProcessEnv = {
      ...spec.env,
      PORT: String(spec.port),
      [ENV.worker]: '1',
      [ENV.id]: String(id),
      [ENV.port]: String(spec.port),
      [ENV.host]: spec.host,
      [ENV.proto]: spec.proto,
      [ENV.backend]: spec.backend,
      [ENV.backlog]: String(spec.backlog),
    };
    this.process = fork(spec.script, [...spec.args], {
      execArgv: [...spec.execArgv, '--import', PRELOAD],
      env,
      serialization: 'advanced',
      stdio: ['ignore', spec.stdio === 'inherit' ? 'inherit' : 'pipe', 'pipe', 'ipc'],
      ...(spec.uid !== undefined ? { uid: spec.uid } : {}),
      ...(spec.gid !== undefined ? { gid: spec.gid } : {}),
    });
    this.process.stderr?.on('data', (chunk: Buffer) => {
      if (spec.stdio === 'inherit') process.stderr.write(chunk);
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-STDERR_TAIL);
    });
    this.process.on('message', (msg: unknown, handle: unknown) => {
      if (isFromWorker(msg)) this.emit('rp', msg as FromWorker, handle);
      else this.emit('message', msg, handle);
    });
    this.exited = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        this.state = 'stopped';
        resolve();
        this.emit('exit', code, signal);
      });
    });
    // spawn failures (EACCES on --user, ENOENT) arrive as 'error' then 'exit'.
    this.process.on('error', (err) => this.emit('spawn-error', err));
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get alive(): boolean {
    return this.state !== 'stopped';
  }

  send(msg: ToWorker, handle?: unknown, cb?: (err: Error | null) => void): boolean {
    if (!this.process.connected) {
      cb?.(new Error('worker channel closed'));
      return false;
    }
    try {
      return (this.process.send as (m: unknown, h?: unknown, o?: unknown, c?: (e: Error | null) => void) => boolean)(msg, handle, undefined, cb);
    } catch (err) {
      cb?.(err as Error);
      return false;
    }
  }

  /** Resolves when the process has exited. */
  waitExit(): Promise<void> {
    return this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs` if it is still there. Resolves on exit. */
  async stop(graceMs: number): Promise<void> {
    if (this.state === 'stopped') return;
    if (this.process.connected) this.process.disconnect();
    this.process.kill('SIGTERM');
    const t = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }

  kill(): void {
    if (this.state !== 'stopped') this.process.kill('SIGKILL');
  }

  describeExit(): string {
    const how = this.exitSignal ? `was killed by ${this.exitSignal}` : `exited with code ${this.exitCode}`;
    const tail = this.stderrTail.trim().split('\n').filter((l) => l.trim() !== '').slice(-6).join('\n');
    return tail ? `${how}:\n${tail}` : how;
  }

  info(): WorkerInfo {
    return {
      id: this.id,
      pid: this.pid,
      slot: this.slot,
      generation: this.generation,
      state: this.state,
      startedAt: this.startedAt,
      stats: { ...this.stats },
    };
  }
}
