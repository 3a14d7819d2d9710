/**
 * Seeded randomness: the simulated kernel's "boot secrets" (4-tuple hash secret, cookie base,
 * ISNs, ephemeral-port offsets) all come from one seed so runs are reproducible.
 */
export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed >>> 0) || 0x9e3779b9;
  }
  /** xorshift32: a fresh u32. */
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }
}

/** jhash_3words (include/linux/jhash.h), as inet_ehashfn/udp_ehashfn use it. */
export function jhash3(a: number, b: number, c: number, initval: number): number {
  a = (a + 0xdeadbeef + 12 + initval) | 0; // JHASH_INITVAL + (3 << 2) + initval
  b = (b + 0xdeadbeef + 12 + initval) | 0;
  c = (c + 0xdeadbeef + 12 + initval) | 0;
  // __jhash_final
  c ^= b; c = (c - rol32(b, 14)) | 0;
  a ^= c; a = (a - rol32(c, 11)) | 0;
  b ^= a; b = (b - rol32(a, 25)) | 0;
  c ^= b; c = (c - rol32(b, 16)) | 0;
  a ^= c; a = (a - rol32(c, 4)) | 0;
  b ^= a; b = (b - rol32(a, 14)) | 0;
  c ^= b; c = (c - rol32(b, 24)) | 0;
  return c >>> 0;
}

const rol32 = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/** reciprocal_scale(): maps a u32 hash onto [0, n) as the kernel does. */
export function reciprocalScale(hash: number, n: number): number {
  // (u64)hash * n >> 32, exact in doubles because hash < 2^32 and n < 2^21
  return Math.floor(((hash >>> 0) * n) / 0x100000000);
}
