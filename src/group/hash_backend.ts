/**
 * The unprivileged Linux backend (`cbpf`): each worker listens on its own SO_REUSEPORT socket
 * and the kernel's own 4-tuple hash spreads connections, with no program and no map, so it
 * needs no capability. Only the 'hash' policy fits; draining cannot steer around a worker, so a
 * draining worker closes its listener at once (with net.ipv4.tcp_migrate_req=1 the kernel
 * moves its queue to the others).
 */
import type { Policy } from '../policies/index.js';
import type { Backend, BackendHost } from './backend.js';
import { GroupError } from './errors.js';

export class HashBackend implements Backend {
  readonly kind = 'cbpf' as const;
  readonly reason: string;
  readonly steering = undefined;

  constructor(reason: string) {
    this.reason = reason;
  }

  async open(_host: BackendHost): Promise<void> {}

  setPolicy(policy: Policy): void {
    if (policy.name !== 'hash') {
      throw new GroupError('EBACKEND', `policy '${policy.name}' needs an SK_REUSEPORT program, which the cbpf backend cannot load`, {
        hint: "run as root (CAP_BPF) for --backend kernel, use --backend emulated, or use --policy hash",
      });
    }
  }

  join(): void {}
  steer(): void {}
  setLoad(): void {}
  drain(): void {}
  leave(): void {}
  async close(): Promise<void> {}
}
