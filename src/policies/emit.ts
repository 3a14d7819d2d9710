/**
 * Building blocks the built-in policies share, written with the ISA builder the way a kernel
 * selftest would write them in C. Register plan: r6 = ctx, r7 = n (steerable count), r8 = the
 * chosen table index, then the chosen slot, r9 = policy scratch. Stack: fp-4 map key, fp-8 slot
 * for the helper, fp-12 flow key, fp-16.. policy scratch.
 *
 * Failure handling is uniform: any failed lookup or selection ends in `pass` (SK_PASS without a
 * selection: the kernel's hash picks). SK_DROP is never returned: a failed lookup must not turn
 * into refused connections.
 */
import { program, R0, R1, R2, R3, R4, R6, R7, R8, R10, type Program } from '../ebpf/index.js';
import { SK_PASS } from '../kernel/index.js';
import { STEER_TABLE } from './maps.js';

/** struct sk_reuseport_md offsets (uapi). */
export const MD = { len: 16, eth_protocol: 20, ip_protocol: 24, bind_inany: 28, hash: 32 } as const;

/** r0 = &map[*(u32 *)(fp-4)], or goto `onNull`. Clobbers r1-r5. */
export function lookup(p: Program, map: string, onNull: string): Program {
  return p.ldMapFd(R1, map).mov(R2, R10).add(R2, -4).call('map_lookup_elem').jeq(R0, 0, onNull);
}

/**
 * Prologue: r6 = ctx. UDP: an existing flow (ctx->hash in `flows`) stays on its worker as long
 * as that worker's socket is still in `socks`. Then r7 = steer[0] (n); n == 0 -> pass.
 */
export function prologue(proto: 'tcp' | 'udp'): Program {
  const p = program().mov(R6, R1);
  if (proto === 'udp') {
    p.ldxw(R2, R6, MD.hash).stxw(R10, -12, R2)
      .ldMapFd(R1, 'flows').mov(R2, R10).add(R2, -12).call('map_lookup_elem')
      .jeq(R0, 0, 'new_flow')
      .ldxw(R2, R0, 0).stxw(R10, -8, R2)
      .mov(R1, R6).ldMapFd(R2, 'socks').mov(R3, R10).add(R3, -8).mov(R4, 0).call('sk_select_reuseport')
      .jeq(R0, 0, 'pass')
      .label('new_flow');
  }
  p.stw(R10, -4, 0);
  lookup(p, 'steer', 'pass');
  return p.ldxw(R7, R0, 0).jeq(R7, 0, 'pass').jgt(R7, STEER_TABLE, 'pass');
}

/** r8 = reciprocal_scale(r8, n): the kernel's own way of mapping a 32-bit hash onto n. */
export function scale(p: Program): Program {
  return p.mov32(R8, R8).mul(R8, R7).rsh(R8, 32);
}

/**
 * Epilogue: r8 holds an index 0..n-1 into the steerable table (from 'index': slot = steer[1 + r8])
 * or already a slot (from 'slot'); select socks[slot]; UDP: remember the flow. Defines `pass`.
 */
export function epilogue(p: Program, proto: 'tcp' | 'udp', from: 'index' | 'slot' = 'index'): Program {
  if (from === 'index') {
    p.add(R8, 1).stxw(R10, -4, R8);
    lookup(p, 'steer', 'pass');
    p.ldxw(R8, R0, 0);
  }
  p.label('select_slot')
    .stxw(R10, -8, R8)
    .mov(R1, R6).ldMapFd(R2, 'socks').mov(R3, R10).add(R3, -8).mov(R4, 0).call('sk_select_reuseport')
    .jne(R0, 0, 'pass');
  if (proto === 'udp') {
    p.ldMapFd(R1, 'flows').mov(R2, R10).add(R2, -12).mov(R3, R10).add(R3, -8).mov(R4, 0).call('map_update_elem');
  }
  return p.label('pass').mov(R0, SK_PASS).exit();
}
