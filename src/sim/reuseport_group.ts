/**
 * struct sock_reuseport (net/core/sock_reuseport.c): the group of sockets sharing one
 * address:port. socks[0..num_socks) are listening/bound members in join order; removal moves
 * the last member into the hole (swap-remove), which is what a classic BPF index or a hash pick
 * sees. Closed TCP listeners that still own children awaiting migration live in `closed`.
 */
import { REUSEPORT_MAX_SOCKS } from '../kernel/index.js';
import type { Sock } from './socket.js';
import { TCP_ESTABLISHED } from './socket.js';
import type { BpfProg } from './bpf_prog.js';
import type { ClassicProg } from './cbpf.js';
import { reciprocalScale } from './rand.js';

/** Reuseport ids come from an IDA: the smallest free id. */
const usedIds = new Set<number>();
let idHint = 1;
function idaAlloc(): number {
  let id = idHint;
  while (usedIds.has(id)) id++;
  usedIds.add(id);
  idHint = id + 1;
  return id;
}

export type GroupProg = { kind: 'ebpf'; prog: BpfProg } | { kind: 'cbpf'; prog: ClassicProg };

export class ReuseportGroup {
  readonly reuseportId: number;
  socks: Sock[] = [];
  closed: Sock[] = [];
  bindInany: boolean;
  hasConns = false;
  /** How many members set SO_INCOMING_CPU (reuse->incoming_cpu). */
  incomingCpu = 0;
  prog: GroupProg | null = null;
  /** Capacity as reuseport_grow() doubles it (starts at INIT_SOCKS 128). */
  maxSocks = 128;
  freed = false;

  constructor(bindInany: boolean) {
    this.reuseportId = idaAlloc();
    this.bindInany = bindInany;
  }

  get numSocks(): number {
    return this.socks.length;
  }

  /** reuseport_add_sock's room check: grow by doubling, fail past U16 capacity. */
  private ensureRoom(): boolean {
    if (this.socks.length + this.closed.length < this.maxSocks) return true;
    if (this.maxSocks >= REUSEPORT_MAX_SOCKS) {
      // a full array with closed sockets evicts one closed socket instead of failing
      const evicted = this.closed.shift();
      if (evicted) {
        evicted.reuseCb = null;
        return true;
      }
      return false;
    }
    this.maxSocks *= 2;
    return true;
  }

  /** Appends a listening member; false when the group is full (-ENOMEM). */
  add(sk: Sock): boolean {
    if (!this.ensureRoom()) return false;
    sk.reuseIdx = this.socks.length;
    this.socks.push(sk);
    sk.reuseCb = this;
    if (sk.incomingCpu >= 0) this.incomingCpu++;
    return true;
  }

  /** __reuseport_detach_sock: swap-remove; returns the index it had. */
  detachListening(sk: Sock): number {
    const i = this.socks.indexOf(sk);
    if (i < 0) return -1;
    const last = this.socks.pop()!;
    if (i < this.socks.length) {
      this.socks[i] = last;
      last.reuseIdx = i;
    }
    sk.reuseIdx = -1;
    if (sk.incomingCpu >= 0) this.incomingCpu--;
    return i;
  }

  detachClosed(sk: Sock): boolean {
    const i = this.closed.indexOf(sk);
    if (i < 0) return false;
    this.closed.splice(i, 1);
    return true;
  }

  /** Frees the id once the group has no member left. */
  maybeFree(): void {
    if (this.socks.length === 0 && this.closed.length === 0 && !this.freed) {
      this.freed = true;
      usedIds.delete(this.reuseportId);
      if (this.reuseportId < idHint) idHint = this.reuseportId;
      this.prog = null;
    }
  }

  /**
   * reuseport_select_sock_by_hash (6.2+): start at reciprocal_scale(hash, n), skip connected
   * (ESTABLISHED) members; with any SO_INCOMING_CPU member prefer one whose incoming CPU is `cpu`.
   */
  selectByHash(hash: number, cpu: number): Sock | null {
    const n = this.socks.length;
    if (n === 0) return null;
    const i = reciprocalScale(hash, n);
    let first: Sock | null = null;
    for (let k = 0; k < n; k++) {
      let j = i + k;
      if (j >= n) j -= n;
      const sk = this.socks[j]!;
      if (sk.state === TCP_ESTABLISHED) continue;
      if (this.incomingCpu === 0) return sk;
      if (sk.incomingCpu === cpu) return sk;
      if (!first) first = sk;
    }
    return first;
  }
}
