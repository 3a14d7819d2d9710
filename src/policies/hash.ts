/**
 * hash: the kernel's own choice, made drain-aware. ctx->hash (the 4-tuple hash the kernel
 * itself uses) is mapped onto the steerable slots with the kernel's reciprocal_scale; with no
 * steerable slot the program returns SK_PASS without a selection and the kernel hashes alone.
 */
import { R6, R8 } from '../ebpf/index.js';
import { epilogue, MD, prologue, scale } from './emit.js';
import type { Policy } from './policy.js';

export const hash: Policy = {
  name: 'hash',
  description: "the kernel's 4-tuple hash over the steerable workers (no state, no IPC)",
  build({ proto }) {
    const p = prologue(proto);
    p.ldxw(R8, R6, MD.hash);
    scale(p);
    return epilogue(p, proto);
  },
};
