/**
 * least-loaded (Hermes-style): workers publish their load (open connections, or datagrams per
 * interval for UDP) into the `load` ARRAY map; the program scans the steerable slots and picks
 * the smallest. The scan starts at a rotating position (a round-robin ticket) so that equal
 * loads are spread instead of piling onto the first slot.
 *
 * The minimum is kept branch-free (mask = (load - best) s>> 63) and every path through one
 * iteration leaves the same registers and stack behind, so a verifier that only prunes exact
 * revisits (the simulator's) sees one state per iteration instead of 3^n paths.
 */
import { R0, R1, R2, R3, R4, R5, R7, R8, R9, R10 } from '../ebpf/index.js';
import { epilogue, lookup, prologue } from './emit.js';
import { MAX_SLOTS } from './maps.js';
import type { Policy } from './policy.js';
import { nextTicket } from './round_robin.js';

export const leastLoaded: Policy = {
  name: 'least-loaded',
  description: 'the steerable worker with the lowest published load (ties rotate)',
  build({ proto }) {
    const p = nextTicket(prologue(proto));
    // i and start live in 8-byte stack slots: full-width spills keep their exact values in
    // every verifier, so each iteration is a distinct state and the loop is seen to end.
    p.stxdw(R10, -40, R8)           // start = ticket % n
      .stdw(R10, -32, 0)            // i = 0
      .lddw(R9, 2 ** 32)            // best load: above any u32 load
      .mov32(R8, 0xffffffff)        // best slot: none
      .label('scan')
      .ldxdw(R1, R10, -32)
      .jge(R1, R7, 'scanned')
      .jge(R1, MAX_SLOTS, 'scanned') // bound the loop for the verifier
      .ldxdw(R2, R10, -40)
      .add(R1, R2)
      .jlt(R1, R7, 'in_range')
      .sub(R1, R7)
      .label('in_range')
      .add(R1, 1)
      .stxw(R10, -4, R1);
    lookup(p, 'steer', 'next');
    p.ldxw(R1, R0, 0)
      .stxw(R10, -24, R1)           // candidate slot
      .stxw(R10, -4, R1);
    lookup(p, 'load', 'next');
    p.ldxw(R1, R0, 0)               // candidate load
      .mov(R2, R1).sub(R2, R9).arsh(R2, 63)          // r2 = load < best ? ~0 : 0
      .mov(R3, R9).xor(R3, R1).and(R3, R2).xor(R9, R3) // best = min(best, load)
      .ldxw(R4, R10, -24)
      .mov(R3, R8).xor(R3, R4).and(R3, R2).xor(R8, R3) // slot follows
      .label('next')
      // same state on every path into the next iteration
      .mov(R0, 0).mov(R1, 0).mov(R2, 0).mov(R3, 0).mov(R4, 0).mov(R5, 0)
      .stw(R10, -4, 0).stw(R10, -24, 0)
      .ldxdw(R1, R10, -32)
      .add(R1, 1)
      .stxdw(R10, -32, R1)
      .mov(R1, 0)
      .ja('scan')
      .label('scanned')
      .jeq32(R8, 0xffffffff, 'pass');
    return epilogue(p, proto, 'slot');
  },
};
