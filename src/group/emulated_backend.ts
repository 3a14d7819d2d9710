// placeholder until the simulator lands
import type { Backend, BackendHost } from './backend.js';
import type { Proto } from './protocol.js';
import { GroupError } from './errors.js';
export class EmulatedBackend implements Backend {
  readonly kind = 'emulated' as const;
  readonly steering = undefined;
  constructor(readonly reason: string, readonly proto: Proto) {}
  async open(_h: BackendHost): Promise<void> { throw new GroupError('EBACKEND', 'emulated backend not built yet'); }
  setPolicy(): void {}
  join(): void {}
  steer(): void {}
  setLoad(): void {}
  drain(): void {}
  leave(): void {}
  async close(): Promise<void> {}
}
