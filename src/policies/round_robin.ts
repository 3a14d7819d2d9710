/**
 * round-robin: a u32 counter in `state[0]`, bumped with an atomic fetch-add, walks the
 * steerable table: connection k goes to steer[1 + k % n].
 */
import { R0, R7, R8, R10, type Program } from '../ebpf/index.js';
import { epilogue, lookup, prologue } from './emit.js';
import type { Policy } from './policy.js';

/** r8 = state[0]++ % n (atomic). */
export function nextTicket(p: Program): Program {
  p.stw(R10, -4, 0);
  lookup(p, 'state', 'pass');
  return p.mov(R8, 1).lockFetchAdd32(R0, 0, R8).mod32(R8, R7);
}

export const roundRobin: Policy = {
  name: 'round-robin',
  description: 'each new connection/flow to the next steerable worker (atomic counter in an ARRAY map)',
  build({ proto }) {
    return epilogue(nextTicket(prologue(proto)), proto);
  },
};
