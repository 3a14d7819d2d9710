/**
 * Classic BPF for SO_ATTACH_REUSEPORT_CBPF: `struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }`
 * (include/uapi/linux/filter.h). The setsockopt value the tables pass is the bytes of the
 * sock_filter array (sock_fprog.filter), the convention src/sim/cbpf.ts decodes.
 */
export const CBPF = {
  LD: 0x00, ALU: 0x04, RET: 0x06, W: 0x00, ABS: 0x20, MOD: 0x90, K: 0x00, A: 0x10,
} as const;

export type { SockFilter } from '../../src/ebpf/classic.js';
/** The bytes of a `struct sock_filter[]` (8 bytes each, host order). */
export { encodeClassic as sockFilterBytes } from '../../src/ebpf/classic.js';
