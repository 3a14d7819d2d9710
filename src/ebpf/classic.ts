/**
 * Classic BPF (cBPF) instructions as SO_ATTACH_REUSEPORT_CBPF takes them: `struct sock_filter
 * { u16 code; u8 jt; u8 jf; u32 k; }` (include/uapi/linux/filter.h), 8 bytes each in host
 * (little-endian) order — the bytes of `sock_fprog.filter`. Both kernels accept these bytes as the
 * setsockopt value; the simulator checks and runs them (src/sim/cbpf.ts).
 */

export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

// classes, sizes, modes and sources of the classic opcode (filter.h / bpf_common.h)
export const CBPF_LD = 0x00, CBPF_LDX = 0x01, CBPF_ST = 0x02, CBPF_STX = 0x03;
export const CBPF_ALU = 0x04, CBPF_JMP = 0x05, CBPF_RET = 0x06, CBPF_MISC = 0x07;
export const CBPF_W = 0x00, CBPF_H = 0x08, CBPF_B = 0x10;
export const CBPF_IMM = 0x00, CBPF_ABS = 0x20, CBPF_IND = 0x40, CBPF_MEM = 0x60, CBPF_LEN = 0x80, CBPF_MSH = 0xa0;
export const CBPF_K = 0x00, CBPF_X = 0x08, CBPF_A = 0x10;
export const BPF_MAXINSNS = 4096, BPF_MEMWORDS = 16;

/** Negative load offsets: ancillary data, and the network / link-layer header (not the payload). */
export const SKF_AD_OFF = -0x1000, SKF_NET_OFF = -0x100000, SKF_LL_OFF = -0x200000;
export const SKF_AD_PROTOCOL = 0, SKF_AD_PKTTYPE = 4, SKF_AD_IFINDEX = 8, SKF_AD_QUEUE = 20, SKF_AD_HATYPE = 28;
export const SKF_AD_RXHASH = 32, SKF_AD_CPU = 36, SKF_AD_PAY_OFFSET = 52, SKF_AD_RANDOM = 56;

/** The bytes of a `struct sock_filter[]`. */
export function encodeClassic(insns: readonly SockFilter[]): Uint8Array {
  const out = new Uint8Array(insns.length * 8);
  const v = new DataView(out.buffer);
  insns.forEach((f, i) => {
    v.setUint16(i * 8, f.code, true);
    v.setUint8(i * 8 + 2, f.jt);
    v.setUint8(i * 8 + 3, f.jf);
    v.setUint32(i * 8 + 4, f.k >>> 0, true);
  });
  return out;
}

/** Split sock_filter bytes into instructions; the length must be a multiple of 8 (caller checks). */
export function decodeClassic(bytes: Uint8Array): SockFilter[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: SockFilter[] = [];
  for (let i = 0; i + 8 <= bytes.length; i += 8) {
    out.push({ code: v.getUint16(i, true), jt: v.getUint8(i + 2), jf: v.getUint8(i + 3), k: v.getUint32(i + 4, true) });
  }
  return out;
}
