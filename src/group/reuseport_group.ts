/**
 * ReuseportGroup: a cluster replacement. N worker processes serve one host:port (TCP or UDP);
 * a policy (an SK_REUSEPORT program) decides which worker gets each new connection or flow.
 * Workers are ordinary Node server scripts: their listen()/bind() on the group's port is
 * intercepted (worker_runtime.ts). Lifecycle: add/remove/replace/drain workers, rolling
 * restart, run-time policy change, heartbeat, crash respawn with backoff, graceful shutdown.
 */
import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { MAX_SLOTS, PolicyError, resolvePolicy, type Policy, type SteerEntry } from '../policies/index.js';
import type { Backend, BackendHost } from './backend.js';
import { chooseBackend, type BackendChoice } from './choose_backend.js';
import { GroupError } from './errors.js';
import { checkPortFree } from './port_check.js';
import type { BackendKind, FromWorker, Proto } from './protocol.js';
import { canSwitchUser, resolveUser } from './user.js';
import { Worker, type SpawnSpec, type WorkerInfo } from './worker.js';

export interface GroupOptions {
  /** The worker script (CommonJS or ESM). */
  script: string;
  args?: readonly string[];
  /** Extra Node flags for workers. */
  execArgv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  port: number;
  /** Default '::' (dual-stack: IPv4 and IPv6 clients). */
  host?: string;
  /** Default 'tcp'. */
  proto?: Proto;
  /** Default: the number of CPUs. */
  workers?: number;
  /** A built-in policy name or your own policy. Default 'round-robin'. */
  policy?: string | Policy;
  /** Per-worker weights for 'weighted' (by worker index at start; default 1). */
  weights?: readonly number[];
  /** Default 'auto': kernel when bpf() is usable, else emulated (cbpf for the hash policy). */
  backend?: BackendKind | 'auto';
  /** Run workers as this user (name or uid); the primary keeps its privileges for bpf(). */
  user?: string | number;
  /** listen() backlog. Default 511. */
  backlog?: number;
  /** A worker must listen within this. Default 10 s. */
  readyTimeoutMs?: number;
  /** Draining worker is killed after this. Default 10 s. */
  drainTimeoutMs?: number;
  /** A draining TCP worker keeps accepting what is already queued this long before it closes. */
  drainGraceMs?: number;
  /** UDP: a draining worker closes once its flows were idle this long. Default 1 s. */
  flowIdleMs?: number;
  /** Ping period. Default 1 s. */
  heartbeatIntervalMs?: number;
  /** No pong for this long: the worker is drained and replaced. Default 5 s. */
  heartbeatTimeoutMs?: number;
  /** Respawn crashed workers. Default true. */
  respawn?: boolean;
  /** Crash-loop backoff: first delay, doubling up to maxMs; reset after a worker ran stableMs. */
  restartBackoff?: { initialMs?: number; maxMs?: number; stableMs?: number };
  /** Worker stdout: 'inherit' (default) or 'pipe' (read worker.process.stdout). */
  stdio?: 'inherit' | 'pipe';
}

export type DownReason = 'drained' | 'crashed' | 'killed' | 'unresponsive' | 'failed-start';

export interface GroupStats {
  backend: BackendKind;
  policy: string;
  proto: Proto;
  host: string;
  port: number;
  steerable: number[];
  workers: WorkerInfo[];
}

interface Ready {
  resolve: () => void;
  reject: (e: Error) => void;
}

const cpus = (): number => {
  try { return availableParallelism(); } catch { return 1; }
};

function int(v: unknown, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new GroupError('EINVALIDOPTION', `${name} must be an integer ${min}..${max}, got ${String(v)}`);
  }
  return v;
}

export class ReuseportGroup extends EventEmitter {
  readonly proto: Proto;
  readonly host: string;
  readonly port: number;
  private readonly opts: Required<Pick<GroupOptions, 'readyTimeoutMs' | 'drainTimeoutMs' | 'flowIdleMs' | 'heartbeatIntervalMs' | 'heartbeatTimeoutMs' | 'respawn' | 'backlog'>> & GroupOptions;
  private readonly wanted: number;
  private readonly spawnSpec: Omit<SpawnSpec, 'backend'>;
  private backend: Backend | undefined;
  private policy: Policy;
  private readonly all = new Map<number, Worker>();
  private readonly weights = new Map<number, number>();
  private readonly readyWaits = new Map<number, Ready>();
  private readonly drainWaits = new Map<number, () => void>();
  private readonly downReason = new Map<number, DownReason>();
  /** Workers being drained on purpose: their exit is not a crash to respawn. */
  private readonly draining = new Set<number>();
  private nextId = 1;
  private generation = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private crashes = 0;
  private lastCrashAt = 0;
  private respawnTimers = new Set<NodeJS.Timeout>();
  private restarting: Promise<void> | undefined;
  private drainGraceMs: number;

  constructor(options: GroupOptions) {
    super();
    if (typeof options !== 'object' || options === null) throw new GroupError('EINVALIDOPTION', 'options must be an object');
    if (typeof options.script !== 'string' || options.script === '') {
      throw new GroupError('EINVALIDOPTION', 'script must be the path of the worker module', { hint: "e.g. new ReuseportGroup({ script: './server.js', port: 8080 })" });
    }
    const script = resolve(options.script);
    if (!existsSync(script)) throw new GroupError('EINVALIDOPTION', `worker script ${script} does not exist`, { hint: 'check the path (relative paths resolve from the current directory)' });
    this.port = int(options.port, 'port', 1, 65535, 0);
    this.host = options.host ?? '::';
    if (typeof this.host !== 'string') throw new GroupError('EINVALIDOPTION', 'host must be a string');
    this.proto = options.proto ?? 'tcp';
    if (this.proto !== 'tcp' && this.proto !== 'udp') throw new GroupError('EINVALIDOPTION', `proto must be 'tcp' or 'udp', got ${String(this.proto)}`);
    this.wanted = int(options.workers, 'workers', 1, MAX_SLOTS / 2, Math.min(cpus(), MAX_SLOTS / 2));
    if (options.backend !== undefined && !['auto', 'kernel', 'cbpf', 'emulated'].includes(options.backend)) {
      throw new GroupError('EINVALIDOPTION', `backend must be kernel, cbpf, emulated or auto, got '${String(options.backend)}'`);
    }
    try {
      this.policy = resolvePolicy(options.policy);
    } catch (err) {
      if (err instanceof PolicyError) throw new GroupError('EUNKNOWNPOLICY', err.message, { hint: err.hint });
      throw err;
    }
    this.opts = {
      ...options,
      readyTimeoutMs: int(options.readyTimeoutMs, 'readyTimeoutMs', 1, 3_600_000, 10_000),
      drainTimeoutMs: int(options.drainTimeoutMs, 'drainTimeoutMs', 0, 3_600_000, 10_000),
      flowIdleMs: int(options.flowIdleMs, 'flowIdleMs', 1, 3_600_000, 1000),
      heartbeatIntervalMs: int(options.heartbeatIntervalMs, 'heartbeatIntervalMs', 10, 3_600_000, 1000),
      heartbeatTimeoutMs: int(options.heartbeatTimeoutMs, 'heartbeatTimeoutMs', 20, 3_600_000, 5000),
      respawn: options.respawn ?? true,
      backlog: int(options.backlog, 'backlog', 1, 65535, 511),
    };
    // -1: chosen with the backend in start() (100 ms for kernel TCP, else 0)
    this.drainGraceMs = options.drainGraceMs === undefined ? -1 : int(options.drainGraceMs, 'drainGraceMs', 0, 3_600_000, 0);
    const user = options.user !== undefined ? resolveUser(options.user) : undefined;
    if (user && !canSwitchUser()) {
      throw new GroupError('EPRIVILEGE', `running workers as user '${String(options.user)}' needs a root primary`, {
        hint: 'start the primary as root (it keeps bpf() and drops privileges for the workers), or leave out --user',
      });
    }
    this.spawnSpec = {
      script,
      args: options.args ?? [],
      execArgv: options.execArgv ?? [],
      env: options.env ?? process.env,
      port: this.port,
      host: this.host,
      proto: this.proto,
      backlog: this.opts.backlog,
      stdio: options.stdio ?? 'inherit',
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    };
    (options.weights ?? []).forEach((w, i) => {
      if (typeof w !== 'number' || !(w >= 0)) throw new GroupError('EINVALIDOPTION', `weights[${i}] must be a number >= 0`);
    });
  }

  // ------------------------------------------------------------------ start / stop

  /** Choose the backend, load the policy, start the workers; resolves once all are ready. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new GroupError('ESTATE', `start() called on a ${this.state} group`);
    this.state = 'starting';
    try {
      const choice: BackendChoice = await chooseBackend(this.opts.backend ?? 'auto', this.policy, this.proto);
      this.backend = choice.backend;
      if (this.drainGraceMs < 0) this.drainGraceMs = this.backend.kind === 'kernel' && this.proto === 'tcp' ? 100 : 0;
      this.emit('backend', { kind: this.backend.kind, reason: this.backend.reason });
      if (this.backend.kind !== 'emulated') await checkPortFree(this.proto, this.host, this.port);
      await this.backend.open(this.host_());
      this.backend.setPolicy(this.policy);
      const starts: Promise<Worker>[] = [];
      for (let i = 0; i < this.wanted; i++) starts.push(this.spawn(this.opts.weights?.[i] ?? 1));
      const results = await Promise.allSettled(starts);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      this.state = 'running';
      this.heartbeat = setInterval(() => this.beat(), this.opts.heartbeatIntervalMs);
      this.heartbeat.unref();
    } catch (err) {
      await this.teardown();
      this.state = 'stopped';
      throw err;
    }
  }

  /** Drain every worker (existing connections finish), then release the maps/program/socket. */
  async shutdown(): Promise<void> {
    if (this.state === 'stopped') return;
    if (this.state === 'stopping') return new Promise((r) => this.once('shutdown', r));
    this.state = 'stopping';
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const t of this.respawnTimers) clearTimeout(t);
    await Promise.all([...this.all.values()].filter((w) => w.alive).map((w) => this.drainAndStop(w)));
    await this.backend?.close();
    this.state = 'stopped';
    this.emit('shutdown');
  }

  private async teardown(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const t of this.respawnTimers) clearTimeout(t);
    await Promise.all([...this.all.values()].map(async (w) => {
      w.kill();
      await w.waitExit();
    }));
    await this.backend?.close();
  }

  // ------------------------------------------------------------------ workers

  private host_(): BackendHost {
    return {
      proto: this.proto,
      host: this.host,
      port: this.port,
      workerAt: (slot) => {
        for (const w of this.all.values()) if (w.slot === slot && (w.state === 'ready' || w.state === 'draining')) return w;
        return undefined;
      },
      workers: () => [...this.all.values()].filter((w) => w.alive),
      warn: (message) => this.emit('warning', message),
    };
  }

  private freeSlot(): number {
    const used = new Set([...this.all.values()].filter((w) => w.alive).map((w) => w.slot));
    for (let s = 0; s < MAX_SLOTS; s++) if (!used.has(s)) return s;
    throw new GroupError('ESTATE', `no free slot: a group holds at most ${MAX_SLOTS} workers including draining ones`);
  }

  private steerEntries(): SteerEntry[] {
    return [...this.all.values()]
      .filter((w) => w.state === 'ready')
      .sort((a, b) => a.slot - b.slot)
      .map((w) => ({ slot: w.slot, weight: this.weights.get(w.id) ?? 1 }));
  }

  private resteer(): void {
    try {
      this.backend?.steer(this.steerEntries());
    } catch (err) {
      this.emit('warning', `steering update failed: ${(err as Error).message}`);
    }
  }

  /** Start one worker; resolves when it listens on the group's port. */
  private spawn(weight: number): Promise<Worker> {
    const backend = this.backend!;
    const id = this.nextId++;
    const w = new Worker(id, this.freeSlot(), this.generation, { ...this.spawnSpec, backend: backend.kind });
    this.all.set(id, w);
    this.weights.set(id, weight);
    w.on('rp', (msg: FromWorker, handle: unknown) => this.onWorkerMessage(w, msg, handle));
    w.on('message', (msg: unknown, handle: unknown) => this.emit('message', w.info(), msg, handle));
    w.once('exit', () => this.onExit(w));
    w.on('spawn-error', (err: Error) => this.emit('warning', `worker ${id}: ${err.message}`));
    return new Promise<Worker>((resolveReady, rejectReady) => {
      const timer = setTimeout(() => {
        this.readyWaits.delete(id);
        this.downReason.set(id, 'failed-start');
        w.kill();
        rejectReady(new GroupError('EREADYTIMEOUT', `worker ${id} did not listen on port ${this.port} within ${this.opts.readyTimeoutMs} ms`, {
          hint: `the script must call listen(${this.port}) (or process.env.PORT) / bind() at start; raise readyTimeoutMs if it starts slowly`,
        }));
      }, this.opts.readyTimeoutMs);
      this.readyWaits.set(id, {
        resolve: () => { clearTimeout(timer); resolveReady(w); },
        reject: (e) => { clearTimeout(timer); rejectReady(e); },
      });
    });
  }

  private onWorkerMessage(w: Worker, msg: FromWorker, _handle: unknown): void {
    switch (msg.rp) {
      case 'listening': {
        if (w.state !== 'starting') return;
        if (msg.proto !== this.proto) return;
        const wait = this.readyWaits.get(w.id);
        try {
          this.backend!.join(w, msg);
        } catch (err) {
          this.readyWaits.delete(w.id);
          this.downReason.set(w.id, 'failed-start');
          w.kill();
          wait?.reject(err as Error);
          return;
        }
        w.state = 'ready';
        w.lastPong = Date.now();
        this.resteer();
        this.readyWaits.delete(w.id);
        this.emit('worker-up', w.info());
        wait?.resolve();
        break;
      }
      case 'listen-error': {
        const wait = this.readyWaits.get(w.id);
        this.readyWaits.delete(w.id);
        this.downReason.set(w.id, 'failed-start');
        w.kill();
        const inUse = msg.code === 'EADDRINUSE';
        wait?.reject(new GroupError(inUse ? 'EADDRINUSE' : 'EWORKERSTART',
          `worker ${w.id} could not listen on ${this.host} port ${this.port}: ${msg.message}`,
          { hint: inUse ? `port ${this.port} is held by another process (find it with: ss -ltnup 'sport = :${this.port}'), or choose another --port` : undefined }));
        break;
      }
      case 'pong':
        w.lastPong = Date.now();
        w.stats = { ...msg.stats, connections: Math.max(msg.stats.connections, 0) };
        break;
      case 'load':
        w.stats = { ...msg.stats, elu: w.stats.elu };
        this.backend?.setLoad(w.slot, msg.load);
        break;
      case 'listeners-closed':
        this.sweepMigrated(w);
        break;
      case 'drained': {
        const done = this.drainWaits.get(w.id);
        this.drainWaits.delete(w.id);
        done?.();
        break;
      }
      case 'send':
        this.backend?.send?.(w, msg);
        break;
      case 'warn':
        this.emit('warning', msg.message);
        break;
      case 'cbpf-attached':
        // cbpf backend: a worker attached the classic program for the current worker count
        this.emit('program-attached', { policy: this.policy.name, workers: msg.workers, worker: w.id });
        break;
    }
  }

  private onExit(w: Worker): void {
    const wait = this.readyWaits.get(w.id);
    this.readyWaits.delete(w.id);
    const drainDone = this.drainWaits.get(w.id);
    this.drainWaits.delete(w.id);
    drainDone?.();
    try { this.backend?.leave(w); } catch { /* backend closed */ }
    this.resteer();
    // A worker that exits (crash, SIGKILL, drain timeout) closes its listener too.
    this.sweepMigrated(w);
    let reason = this.downReason.get(w.id);
    if (wait) {
      reason ??= 'failed-start';
      wait.reject(new GroupError('EWORKERSTART', `worker ${w.id} ${w.describeExit()}`, {
        hint: 'the worker script failed before it listened: run it alone with `node <script>` to see the error',
      }));
    }
    if (!reason) reason = w.exitSignal === 'SIGKILL' ? 'killed' : 'crashed';
    this.all.delete(w.id);
    this.emit('worker-down', w.info(), { reason, code: w.exitCode, signal: w.exitSignal });
    const wasDraining = this.draining.delete(w.id);
    if ((reason === 'crashed' || reason === 'killed') && !wasDraining && this.state === 'running' && this.opts.respawn) this.scheduleRespawn(w);
  }

  /**
   * `gone`'s TCP listener closed: the kernel migrated its queue into the other listeners, and on
   * kernels before upstream 3864c6ba1e04 without a wakeup. Tell every ready worker to accept
   * for a second by itself (migration_sweep.ts) so that nothing waits for the next connection.
   */
  private sweepMigrated(gone: Worker): void {
    const kind = this.backend?.kind;
    if (this.proto !== 'tcp' || (kind !== 'kernel' && kind !== 'cbpf')) return;
    for (const w of this.all.values()) {
      if (w !== gone && w.state === 'ready') w.send({ rp: 'sweep', ms: MIGRATION_SWEEP_MS });
    }
  }

  private scheduleRespawn(w: Worker): void {
    const b = this.opts.restartBackoff ?? {};
    const initial = b.initialMs ?? 100;
    const max = b.maxMs ?? 10_000;
    const stable = b.stableMs ?? 5000;
    const now = Date.now();
    if (now - w.startedAt >= stable && now - this.lastCrashAt >= stable) this.crashes = 0;
    this.crashes++;
    this.lastCrashAt = now;
    const delay = Math.min(max, initial * 2 ** (this.crashes - 1));
    this.emit('warning', `worker ${w.id} ${w.describeExit().split('\n')[0]}; respawning in ${delay} ms`);
    const weight = this.weights.get(w.id) ?? 1;
    const t = setTimeout(() => {
      this.respawnTimers.delete(t);
      if (this.state !== 'running') return;
      this.spawn(weight).catch((err: Error) => {
        this.emit('warning', `respawn failed: ${err.message}`);
      });
    }, delay);
    this.respawnTimers.add(t);
  }

  private beat(): void {
    const now = Date.now();
    for (const w of this.all.values()) {
      if (w.state !== 'ready') continue;
      if (now - w.lastPong > this.opts.heartbeatTimeoutMs) {
        // Stop steering to it at once and start its replacement in parallel: it cannot drain
        // while stuck, so it is killed after drainTimeoutMs.
        this.emit('warning', `worker ${w.id} (pid ${w.pid}) has not answered for ${now - w.lastPong} ms: replacing it`);
        this.downReason.set(w.id, 'unresponsive');
        const weight = this.weights.get(w.id) ?? 1;
        void this.drainAndStop(w);
        this.spawn(weight).catch((err: Error) => this.emit('warning', `replacing worker ${w.id} failed: ${err.message}`));
        continue;
      }
      w.send({ rp: 'ping', seq: ++w.pingSeq });
    }
  }

  private get(id: number): Worker {
    const w = this.all.get(id);
    if (!w || !w.alive) throw new GroupError('ENOWORKER', `no live worker with id ${id}`, { hint: 'see group.stats().workers for the ids' });
    return w;
  }

  private running(what: string): void {
    if (this.state !== 'running') throw new GroupError('ESTATE', `${what} needs a running group (this one is ${this.state})`);
  }

  /** Start one more worker. */
  async addWorker(options: { weight?: number } = {}): Promise<WorkerInfo> {
    this.running('addWorker');
    const w = await this.spawn(options.weight ?? 1);
    return w.info();
  }

  /**
   * Drain a worker: it gets nothing new (it leaves the steerable table at once), finishes what
   * it has, then exits; killed after drainTimeoutMs. Resolves when it has exited.
   */
  async drainWorker(id: number): Promise<void> {
    await this.drainAndStop(this.get(id));
  }

  /** Same as drainWorker: a removed worker finishes its connections first. */
  removeWorker(id: number): Promise<void> {
    return this.drainWorker(id);
  }

  private async drainAndStop(w: Worker): Promise<void> {
    if (w.state === 'stopped') return;
    if (w.state === 'draining') return w.waitExit();
    const wasStarting = w.state === 'starting';
    w.state = 'draining';
    this.draining.add(w.id);
    if (!this.downReason.has(w.id)) this.downReason.set(w.id, 'drained');
    this.resteer();
    try { this.backend?.drain(w); } catch (err) { this.emit('warning', `drain of worker ${w.id}: ${(err as Error).message}`); }
    if (!wasStarting) {
      const drained = new Promise<void>((r) => this.drainWaits.set(w.id, r));
      w.send({ rp: 'drain', graceMs: this.drainGraceMs, flowIdleMs: this.opts.flowIdleMs });
      const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), this.opts.drainTimeoutMs).unref());
      const outcome = await Promise.race([drained.then(() => 'drained' as const), timeout]);
      if (outcome === 'timeout' && w.alive) {
        this.emit('warning', `worker ${w.id} did not drain within ${this.opts.drainTimeoutMs} ms: killing it`);
        if (this.downReason.get(w.id) === 'drained') this.downReason.set(w.id, 'killed');
      } else if (w.alive) this.emit('worker-drained', w.info());
    }
    await w.stop(outcomeGrace(this.opts.drainTimeoutMs));
  }

  /** Start a replacement, wait until it is ready, then drain the old worker. */
  async replaceWorker(id: number): Promise<WorkerInfo> {
    const old = this.get(id);
    this.running('replaceWorker');
    const weight = this.weights.get(id) ?? 1;
    const fresh = await this.spawn(weight);
    await this.drainAndStop(old);
    return fresh.info();
  }

  /**
   * Replace every current worker, one at a time, new before old goes: the group never has
   * fewer ready workers than before. If a new worker fails to start, the restart stops and
   * the old workers keep serving.
   */
  rollingRestart(): Promise<void> {
    this.running('rollingRestart');
    if (this.restarting) return this.restarting;
    const started = Date.now();
    this.generation++;
    const olds = [...this.all.values()].filter((w) => w.state === 'ready' && w.generation < this.generation);
    this.restarting = (async () => {
      try {
        for (const w of olds) {
          if (!w.alive || this.state !== 'running') continue;
          await this.replaceWorker(w.id);
        }
        this.emit('restart-complete', { replaced: olds.length, ms: Date.now() - started });
      } finally {
        this.restarting = undefined;
      }
    })();
    return this.restarting;
  }

  /**
   * Replace the group's program at run time (atomically for every socket). If the new one is
   * refused, the old one stays and the error carries the verifier log.
   */
  setPolicy(policy: string | Policy): void {
    this.running('setPolicy');
    let next: Policy;
    try {
      next = resolvePolicy(policy);
    } catch (err) {
      if (err instanceof PolicyError) throw new GroupError('EUNKNOWNPOLICY', err.message, { hint: err.hint });
      throw err;
    }
    const from = this.policy.name;
    this.backend!.setPolicy(next);
    this.policy = next;
    this.backend!.steering?.refresh(this.steerEntries());
    this.emit('policy-changed', { from, to: next.name });
  }

  /** Set a worker's weight (the 'weighted' policy reads it). */
  setWeight(id: number, weight: number): void {
    this.get(id);
    if (typeof weight !== 'number' || !(weight >= 0)) throw new GroupError('EINVALIDOPTION', 'weight must be a number >= 0');
    this.weights.set(id, weight);
    this.resteer();
  }

  // ------------------------------------------------------------------ introspection

  get backendKind(): BackendKind | undefined {
    return this.backend?.kind;
  }

  get backendReason(): string | undefined {
    return this.backend?.reason;
  }

  get policyName(): string {
    return this.policy.name;
  }

  get isRunning(): boolean {
    return this.state === 'running';
  }

  /** The steering maps/program (kernel and emulated backends): for tests and diagnostics. */
  get steering(): Backend['steering'] {
    return this.backend?.steering;
  }

  /** Worker objects (live ones). */
  workers(): WorkerInfo[] {
    return [...this.all.values()].filter((w) => w.alive).sort((a, b) => a.id - b.id).map((w) => w.info());
  }

  /** Process of a worker (e.g. to send it messages or read its stdout). */
  workerProcess(id: number): Worker['process'] {
    return this.get(id).process;
  }

  stats(): GroupStats {
    return {
      backend: this.backend?.kind ?? (this.opts.backend === 'auto' || !this.opts.backend ? 'emulated' : this.opts.backend),
      policy: this.policy.name,
      proto: this.proto,
      host: this.host,
      port: this.port,
      steerable: [...(this.backend?.steering?.steerable ?? [])],
      workers: this.workers(),
    };
  }
}

/** How long workers accept by themselves after another worker's listener closed. */
const MIGRATION_SWEEP_MS = 1000;

/** SIGTERM grace after a drain: short, the worker has nothing left to do. */
const outcomeGrace = (drainTimeoutMs: number): number => Math.min(2000, Math.max(100, drainTimeoutMs));
