/**
 * The group's steering state in any Kernel (LinuxKernel for real sockets, SimKernel for the
 * emulated backend): the standard maps, the loaded policy program, the steerable table and the
 * published loads. Both backends drive the same maps with the same bytecode, so a policy
 * behaves the same on both.
 */
import {
  BPF_ANY, BPF_PROG_TYPE_SK_REUSEPORT, BPF_SK_REUSEPORT_SELECT, SysError, type Kernel,
} from '../kernel/index.js';
import { DEFAULT_ATTACH, defaultTable, stdMaps, STEER_TABLE, MAX_SLOTS, type Policy, type SteerEntry } from '../policies/index.js';
import { GroupError } from './errors.js';
import type { Proto } from './protocol.js';

const u32 = (v: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};
const u64 = (v: number): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
  return b;
};

export interface LoadedProgram {
  fd: number;
  policy: Policy;
  insnCount: number;
}

export class Steering {
  readonly kernel: Kernel;
  readonly proto: Proto;
  /** Map name -> fd (standard maps plus the current policy's extra maps). */
  readonly maps: Record<string, number> = {};
  program: LoadedProgram | undefined;
  private table: number[] = [];
  private readonly key = new Uint8Array(4);
  private readonly val = new Uint8Array(4);
  private readonly keyView = new DataView(this.key.buffer);
  private readonly valView = new DataView(this.val.buffer);

  constructor(kernel: Kernel, proto: Proto) {
    this.kernel = kernel;
    this.proto = proto;
    try {
      for (const spec of stdMaps(proto)) this.maps[spec.name] = kernel.mapCreate(spec);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /**
   * Build, link and load `policy` against the maps. A refusal throws GroupError EPOLICYLOAD
   * with the verifier log and leaves the current program in place.
   */
  load(policy: Policy): LoadedProgram {
    const created: string[] = [];
    try {
      for (const spec of policy.extraMaps ?? []) {
        if (this.maps[spec.name] === undefined) {
          this.maps[spec.name] = this.kernel.mapCreate(spec);
          created.push(spec.name);
        }
      }
      const insns = policy.build({ proto: this.proto }).link({ maps: this.maps });
      const expected = policy.expectedAttachType ?? (this.proto === 'tcp' ? DEFAULT_ATTACH : BPF_SK_REUSEPORT_SELECT);
      const fd = this.kernel.progLoad({
        progType: BPF_PROG_TYPE_SK_REUSEPORT,
        insns,
        license: 'GPL',
        expectedAttachType: expected,
        logLevel: 1,
        logSize: 1 << 20,
        name: `rp_${policy.name.replace(/[^A-Za-z0-9_]/g, '_')}`.slice(0, 15),
      });
      return { fd, policy, insnCount: insns.length / 8 };
    } catch (err) {
      for (const name of created) {
        try { this.kernel.close(this.maps[name]!); } catch { /* already gone */ }
        delete this.maps[name];
      }
      const log = err instanceof SysError ? err.log : undefined;
      throw new GroupError('EPOLICYLOAD', `policy '${policy.name}' was refused: ${(err as Error).message}`, {
        hint: log ? 'the verifier log says why (error.log); the previous policy stays in place' : 'check the program; the previous policy stays in place',
        log,
        cause: err,
      });
    }
  }

  /** Make `next` current (after the backend attached it); closes the previous program fd. */
  commit(next: LoadedProgram): void {
    const prev = this.program;
    this.program = next;
    if (prev && prev.fd !== next.fd) {
      try { this.kernel.close(prev.fd); } catch { /* already closed */ }
    }
  }

  private put(map: string, key: number, value: number): void {
    this.keyView.setUint32(0, key >>> 0, true);
    this.valView.setUint32(0, value >>> 0, true);
    this.kernel.mapUpdateElem(this.maps[map]!, this.key, this.val, BPF_ANY);
  }

  /**
   * The slots new connections may go to. Entries are written before the count grows and the
   * count shrinks before entries are overwritten, so the program never reads a stale slot
   * beyond the count.
   */
  setSteerable(entries: readonly SteerEntry[]): number[] {
    const policy = this.program?.policy;
    const next = (policy?.table ?? defaultTable)(entries).slice(0, STEER_TABLE);
    const prevN = this.table.length;
    if (next.length < prevN) this.put('steer', 0, next.length);
    next.forEach((slot, i) => {
      if (this.table[i] !== slot) this.put('steer', 1 + i, slot);
    });
    if (next.length >= prevN) this.put('steer', 0, next.length);
    this.table = next;
    return next;
  }

  get steerable(): readonly number[] {
    return this.table;
  }

  /** Re-expand the table after a policy change (weighted tables differ from plain ones). */
  refresh(entries: readonly SteerEntry[]): void {
    this.table = [];
    this.setSteerable(entries);
  }

  setLoad(slot: number, load: number): void {
    if (slot < 0 || slot >= MAX_SLOTS) return;
    this.put('load', slot, Math.min(Math.max(0, Math.floor(load)), 0xffffffff));
  }

  /** Put a socket (an fd valid in this process, for the duration of the call) into `socks`. */
  setSocket(slot: number, fd: number): void {
    this.keyView.setUint32(0, slot, true);
    this.kernel.mapUpdateElem(this.maps.socks!, this.key, u64(fd), BPF_ANY);
  }

  clearSocket(slot: number): void {
    this.keyView.setUint32(0, slot, true);
    try {
      this.kernel.mapDeleteElem(this.maps.socks!, this.key);
    } catch {
      // ENOENT: the kernel already emptied the slot when the socket closed
    }
  }

  /** Read one u32 of a map (tests and stats). */
  read(map: string, key: number): number {
    const v = this.kernel.mapLookupElem(this.maps[map]!, u32(key));
    return new DataView(v.buffer, v.byteOffset, v.byteLength).getUint32(0, true);
  }

  close(): void {
    if (this.program) {
      try { this.kernel.close(this.program.fd); } catch { /* closed */ }
      this.program = undefined;
    }
    for (const [name, fd] of Object.entries(this.maps)) {
      try { this.kernel.close(fd); } catch { /* closed */ }
      delete this.maps[name];
    }
  }
}
