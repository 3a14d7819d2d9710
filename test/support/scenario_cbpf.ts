/**
 * Classic BPF for SO_ATTACH_REUSEPORT_CBPF: `struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }`
 * (include/uapi/linux/filter.h). The setsockopt value the tables pass is the bytes of the
 * sock_filter array (sock_fprog.filter), the convention src/sim/cbpf.ts decodes.
 */
export const CBPF = {
  LD: 0x00, ALU: 0x04, RET: 0x06, W: 0x00, ABS: 0x20, MOD: 0x90, K: 0x00, A: 0x10,
} as const;

export interface SockFilter { code: number; jt: number; jf: number; k: number }

/** The bytes of a `struct sock_filter[]` (8 bytes each, host order). */
export function sockFilterBytes(filter: readonly SockFilter[]): Uint8Array {
  const out = new Uint8Array(filter.length * 8);
  const v = new DataView(out.buffer);
  filter.forEach((f, i) => {
    v.setUint16(i * 8, f.code, true);
    v.setUint8(i * 8 + 2, f.jt);
    v.setUint8(i * 8 + 3, f.jf);
    v.setUint32(i * 8 + 4, f.k >>> 0, true);
  });
  return out;
}
