/**
 * The kernel backend: each worker listens on its own SO_REUSEPORT socket; the primary owns the
 * REUSEPORT_SOCKARRAY and the SK_REUSEPORT program. When a worker reports its fd, the primary
 * borrows it (pidfd_getfd), stores it in the worker's slot, (re)attaches the program through
 * it and closes its copy at once: it never keeps a duplicate of a worker's socket.
 */
import { SO_ATTACH_REUSEPORT_EBPF, SOL_SOCKET, type Kernel } from '../kernel/index.js';
import type { Policy, SteerEntry } from '../policies/index.js';
import type { Backend, BackendHost } from './backend.js';
import { GroupError } from './errors.js';
import { borrowFd, closeFd } from '../linux/index.js';
import type { FromWorker } from './protocol.js';
import { Steering, type LoadedProgram } from './steering.js';
import type { Worker } from './worker.js';

export class KernelBackend implements Backend {
  readonly kind = 'kernel' as const;
  readonly reason: string;
  steering: Steering | undefined;
  private host: BackendHost | undefined;
  private readonly kernel: Kernel;

  constructor(kernel: Kernel, reason: string) {
    this.kernel = kernel;
    this.reason = reason;
  }

  async open(host: BackendHost): Promise<void> {
    this.host = host;
    this.steering = new Steering(this.kernel, host.proto);
  }

  /** Borrow the worker's socket, run `fn` with the copy, close the copy whatever happens. */
  private withWorkerSocket<T>(w: Worker, fn: (fd: number) => T): T {
    if (w.pid === undefined || w.listenFd < 0) throw new GroupError('ESTATE', `worker ${w.id} has no listening socket`);
    const fd = borrowFd(w.pid, w.listenFd);
    try {
      return fn(fd);
    } finally {
      closeFd(fd);
    }
  }

  private attach(fd: number, prog: LoadedProgram): void {
    this.kernel.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog.fd);
  }

  setPolicy(policy: Policy): void {
    const s = this.steering!;
    const next = s.load(policy);
    // Attach through any live member: the group has one program, replaced atomically for all.
    const member = this.host?.workers().find((w) => w.listenFd >= 0 && (w.state === 'ready' || w.state === 'draining'));
    if (member) {
      try {
        this.withWorkerSocket(member, (fd) => this.attach(fd, next));
      } catch (err) {
        try { this.kernel.close(next.fd); } catch { /* closed */ }
        throw new GroupError('EPOLICYLOAD', `policy '${policy.name}' loaded but could not be attached: ${(err as Error).message}`, { cause: err });
      }
    }
    s.commit(next);
  }

  join(w: Worker, msg: Extract<FromWorker, { rp: 'listening' }>): void {
    w.listenFd = msg.fd;
    const s = this.steering!;
    try {
      this.withWorkerSocket(w, (fd) => {
        s.setSocket(w.slot, fd);
        // Every join re-attaches: if all members had gone, the kernel freed the group and its program.
        if (s.program) this.attach(fd, s.program);
      });
    } catch (err) {
      const e = err as { code?: string; message: string };
      if (e.code === 'EPERM') {
        throw new GroupError('EPRIVILEGE', `cannot borrow worker ${w.id}'s socket: ${e.message}`, {
          hint: 'the primary needs CAP_SYS_PTRACE over its workers (run it as root) or use --backend cbpf',
          cause: err,
        });
      }
      throw new GroupError('EWORKERSTART', `worker ${w.id}'s socket could not join the group: ${e.message}`, {
        hint: e.code === 'EINVAL' ? 'the socket must have SO_REUSEPORT and be listening/bound' : undefined,
        cause: err,
      });
    }
  }

  steer(entries: readonly SteerEntry[]): void {
    this.steering?.setSteerable(entries);
  }

  setLoad(slot: number, load: number): void {
    this.steering?.setLoad(slot, load);
  }

  drain(_w: Worker): void {
    // Nothing beyond the steerable table: the worker keeps its socket (and its slot, so UDP
    // flows stay) until it closes it; SELECT_OR_MIGRATE moves whatever is still queued then.
  }

  leave(w: Worker): void {
    // The kernel empties the slot when the socket closes; clear it anyway for a killed worker
    // whose fd table is still being torn down.
    this.steering?.clearSocket(w.slot);
  }

  async close(): Promise<void> {
    this.steering?.close();
    this.steering = undefined;
  }
}
