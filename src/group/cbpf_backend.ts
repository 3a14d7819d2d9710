/**
 * The unprivileged Linux backend (`cbpf`): each worker listens on its own SO_REUSEPORT socket;
 * no map, no eBPF, no capability. The 'hash' policy is the kernel's own hash; 'sticky' is a
 * classic BPF program (classic_policy.ts) that a worker attaches to its own socket (which
 * needs no privilege) and that is re-attached with the new worker count whenever the set of
 * workers changes. Draining cannot steer around a worker here, so a draining worker closes
 * its listener at once (with net.ipv4.tcp_migrate_req=1 the kernel moves its queue).
 */
import type { Policy, SteerEntry } from '../policies/index.js';
import type { Backend, BackendHost } from './backend.js';
import { classicProgram } from './classic_policy.js';
import { GroupError } from './errors.js';

export class CbpfBackend implements Backend {
  readonly kind = 'cbpf' as const;
  readonly reason: string;
  readonly steering = undefined;
  private host: BackendHost | undefined;
  private policy = 'hash';
  private attachedN = -1;
  private attachedPolicy = 'hash';

  constructor(reason: string) {
    this.reason = reason;
  }

  async open(host: BackendHost): Promise<void> {
    this.host = host;
  }

  setPolicy(policy: Policy): void {
    if (classicProgram(policy.name, 1) === undefined) {
      throw new GroupError('EBACKEND', `policy '${policy.name}' needs eBPF maps, which the unprivileged cbpf backend cannot use`, {
        hint: 'use --policy hash or sticky here; run as root (CAP_BPF) for --backend kernel; or use --backend emulated',
      });
    }
    this.policy = policy.name;
    this.attachedN = -1;
    const ready = this.host?.workers().filter((w) => w.state === 'ready') ?? [];
    if (ready.length > 0) this.steer(ready.map((w) => ({ slot: w.slot, weight: 1 })));
  }

  join(): void {}

  /** The set of listening workers changed: (re)attach the classic program for the new count. */
  steer(entries: readonly SteerEntry[]): void {
    const n = entries.length;
    if (n === 0 || (n === this.attachedN && this.policy === this.attachedPolicy)) return;
    const filter = classicProgram(this.policy, n);
    if (filter === undefined) return;
    if (filter === null && this.attachedPolicy === 'hash') return;
    const member = this.host?.workers().find((w) => w.state === 'ready');
    if (!member) return;
    member.send({ rp: 'attach-cbpf', filter: filter ?? new Uint8Array(0), workers: n });
    this.attachedN = n;
    this.attachedPolicy = this.policy;
  }

  setLoad(): void {}
  drain(): void {}
  leave(): void {}
  async close(): Promise<void> {}
}
