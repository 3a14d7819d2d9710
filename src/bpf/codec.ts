/**
 * Key/value codecs: how a JavaScript value maps to the bytes a map stores (host order,
 * little-endian on x86_64/arm64). `encodeInto` writes into a caller-owned scratch buffer so
 * hot paths allocate nothing.
 */
export interface Codec<T> {
  /** Bytes per encoded value: must equal the map's key_size / value_size. */
  readonly size: number;
  encodeInto(value: T, out: Uint8Array): void;
  decode(bytes: Uint8Array): T;
}

/** Scratch for 64-bit conversions: no DataView or BigInt arithmetic per call. */
const scratch64 = new BigUint64Array(1);
const scratch8 = new Uint8Array(scratch64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function intCodec(size: 4, signed: boolean): Codec<number> {
  const min = signed ? -0x80000000 : 0, max = signed ? 0x7fffffff : 0xffffffff;
  const kind = signed ? 'i32' : 'u32';
  return {
    size,
    encodeInto(v, out) {
      if (typeof v !== 'number') throw new TypeError(`${kind}: expected a number, got ${typeof v}`);
      if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${kind}: ${v} is not an integer in ${min}..${max}`);
      out[0] = v & 0xff; out[1] = (v >>> 8) & 0xff; out[2] = (v >>> 16) & 0xff; out[3] = (v >>> 24) & 0xff;
    },
    decode(b) {
      const u = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24));
      return signed ? u : u >>> 0;
    },
  };
}

/** Unsigned 32-bit integer (array indices, counters). */
export const u32: Codec<number> = intCodec(4, false);
/** Signed 32-bit integer (fds in 4-byte sockarray values). */
export const i32: Codec<number> = intCodec(4, true);

/** Unsigned 64-bit integer as a bigint (socket cookies, 8-byte fd values). */
export const u64: Codec<bigint> = {
  size: 8,
  encodeInto(v, out) {
    if (typeof v !== 'bigint') throw new TypeError(`u64: expected a bigint, got ${typeof v}`);
    if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`u64: ${v} is out of range`);
    if (!LITTLE_ENDIAN) { new DataView(out.buffer, out.byteOffset, 8).setBigUint64(0, v, true); return; }
    scratch64[0] = v;
    for (let i = 0; i < 8; i++) out[i] = scratch8[i]!;
  },
  decode(b) {
    if (!LITTLE_ENDIAN) return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    for (let i = 0; i < 8; i++) scratch8[i] = b[i]!;
    return scratch64[0]!;
  },
};

/** Raw bytes of a fixed size (the default codec). */
export function bytes(size: number): Codec<Uint8Array> {
  return {
    size,
    encodeInto(v, out) {
      if (!(v instanceof Uint8Array)) throw new TypeError(`bytes(${size}): expected a Uint8Array`);
      if (v.length !== size) throw new RangeError(`bytes(${size}): got ${v.length} bytes`);
      out.set(v);
    },
    decode: (b) => b,
  };
}
