/**
 * Classic BPF (SO_ATTACH_REUSEPORT_CBPF): bpf_check_classic() at attach, and an interpreter with
 * the semantics the kernel's cBPF->eBPF conversion gives (an out-of-packet load or a division by
 * a zero X ends the program with 0). Instructions are struct sock_filter, 8 bytes each:
 * u16 code, u8 jt, u8 jf, u32 k (little-endian), i.e. the bytes of sock_fprog.filter.
 */
import { fail } from '../kernel/index.js';
import {
  CBPF_LD as LD, CBPF_LDX as LDX, CBPF_ST as ST, CBPF_STX as STX, CBPF_ALU as ALU, CBPF_JMP as JMP,
  CBPF_RET as RET, CBPF_MISC as MISC, CBPF_W as W, CBPF_H as H, CBPF_B as B, CBPF_IMM as IMM,
  CBPF_ABS as ABS, CBPF_IND as IND, CBPF_MEM as MEM, CBPF_LEN as LEN, CBPF_MSH as MSH,
  CBPF_K as K, CBPF_X as X, CBPF_A as A, BPF_MAXINSNS, BPF_MEMWORDS, SKF_AD_OFF,
  SKF_AD_PROTOCOL, SKF_AD_PKTTYPE, SKF_AD_IFINDEX, SKF_AD_QUEUE, SKF_AD_HATYPE, SKF_AD_RXHASH,
  SKF_AD_CPU, SKF_AD_PAY_OFFSET, SKF_AD_RANDOM, decodeClassic, type SockFilter,
} from '../ebpf/classic.js';

export {
  BPF_MAXINSNS, BPF_MEMWORDS, SKF_AD_OFF, SKF_AD_PROTOCOL, SKF_AD_PKTTYPE, SKF_AD_IFINDEX,
  SKF_AD_QUEUE, SKF_AD_HATYPE, SKF_AD_RXHASH, SKF_AD_CPU, SKF_AD_PAY_OFFSET, SKF_AD_RANDOM,
  encodeClassic, type SockFilter,
} from '../ebpf/classic.js';

/** What a run sees besides the data (the L4 payload for reuseport). */
export interface CbpfEnv {
  /** skb->protocol in network order, as SKF_AD_PROTOCOL returns it. */
  protocol: number;
  hash: number;
  cpu: number;
  random(): number;
}

export class ClassicProg {
  readonly insns: SockFilter[];
  constructor(insns: SockFilter[]) {
    this.insns = insns;
  }
  get size(): number {
    return this.insns.length * 8;
  }

  /** Returns the u32 the program returns. */
  run(data: Uint8Array, env: CbpfEnv): number {
    const p = this.insns;
    const mem = new Uint32Array(BPF_MEMWORDS);
    let a = 0, x = 0;
    const len = data.length;
    const load = (off: number, size: number): number | null => {
      if (off < 0) {
        if (off >= SKF_AD_OFF) {
          switch (off - SKF_AD_OFF) {
            case SKF_AD_PROTOCOL: return env.protocol;
            case SKF_AD_PKTTYPE: return 0; // PACKET_HOST
            case SKF_AD_IFINDEX: return 1; // lo
            case SKF_AD_QUEUE: return 0;
            case SKF_AD_HATYPE: return 772; // ARPHRD_LOOPBACK
            case SKF_AD_RXHASH: return env.hash >>> 0;
            case SKF_AD_CPU: return env.cpu;
            case SKF_AD_PAY_OFFSET: return 0;
            case SKF_AD_RANDOM: return env.random() >>> 0;
          }
        }
        return null;
      }
      if (off + size > len) return null;
      if (size === 4) return ((data[off]! << 24) | (data[off + 1]! << 16) | (data[off + 2]! << 8) | data[off + 3]!) >>> 0;
      if (size === 2) return (data[off]! << 8) | data[off + 1]!;
      return data[off]!;
    };
    for (let pc = 0; pc < p.length; pc++) {
      const { code, jt, jf, k } = p[pc]!;
      const ku = k >>> 0;
      switch (code & 7) {
        case LD:
        case LDX: {
          const mode = code & 0xe0;
          const size = (code & 0x18) === W ? 4 : (code & 0x18) === H ? 2 : 1;
          let v: number | null;
          if (mode === IMM) v = ku;
          else if (mode === LEN) v = len;
          else if (mode === MEM) v = mem[ku]!;
          else if (mode === ABS) v = load(k | 0, size);
          else if (mode === IND) v = load(((x + ku) | 0), size);
          else { // MSH: X = 4 * (P[k] & 0xf)
            const b = load(k | 0, 1);
            if (b === null) return 0;
            x = (b & 0xf) << 2;
            continue;
          }
          if (v === null) return 0;
          if ((code & 7) === LD) a = v >>> 0; else x = v >>> 0;
          break;
        }
        case ST: mem[ku] = a; break;
        case STX: mem[ku] = x; break;
        case ALU: {
          const src = (code & 0x08) === X ? x : ku;
          switch (code & 0xf0) {
            case 0x00: a = (a + src) >>> 0; break;
            case 0x10: a = (a - src) >>> 0; break;
            case 0x20: a = Math.imul(a, src) >>> 0; break;
            case 0x30: if (src === 0) return 0; a = Math.floor(a / src) >>> 0; break;
            case 0x40: a = (a | src) >>> 0; break;
            case 0x50: a = (a & src) >>> 0; break;
            case 0x60: a = src >= 32 ? 0 : (a << src) >>> 0; break;
            case 0x70: a = src >= 32 ? 0 : a >>> src; break;
            case 0x80: a = (-a) >>> 0; break;
            case 0x90: if (src === 0) return 0; a = (a % src) >>> 0; break;
            case 0xa0: a = (a ^ src) >>> 0; break;
          }
          break;
        }
        case JMP: {
          const op = code & 0xf0;
          if (op === 0x00) { pc += ku; break; }
          const src = (code & 0x08) === X ? x : ku;
          const c = op === 0x10 ? a === src : op === 0x20 ? a > src : op === 0x30 ? a >= src : (a & src) !== 0;
          pc += c ? jt : jf;
          break;
        }
        case RET: {
          const rv = code & 0x18;
          return rv === A ? a : rv === X ? x : ku;
        }
        case MISC:
          if ((code & 0xf8) === 0x80) a = x; else x = a;
          break;
      }
    }
    return 0;
  }
}

const VALID = new Set<number>([
  LD | W | ABS, LD | H | ABS, LD | B | ABS, LD | W | IND, LD | H | IND, LD | B | IND, LD | IMM, LD | W | LEN, LD | MEM,
  LDX | IMM, LDX | W | LEN, LDX | MEM, LDX | B | MSH, ST, STX,
  ...[0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0].flatMap((o) => [ALU | o | K, ALU | o | X]), ALU | 0x80,
  JMP | 0x00, ...[0x10, 0x20, 0x30, 0x40].flatMap((o) => [JMP | o | K, JMP | o | X]),
  RET | K, RET | A, RET | X, MISC | 0x00, MISC | 0x80,
]);

/** Decode sock_filter bytes and run bpf_check_classic(); EINVAL names the first bad instruction. */
export function checkClassic(syscall: string, bytes: Uint8Array): ClassicProg {
  if (!(bytes instanceof Uint8Array) || bytes.length % 8 !== 0) fail(syscall, 'EINVAL', 'classic program must be 8-byte struct sock_filter entries');
  const n = bytes.length / 8;
  if (n === 0 || n > BPF_MAXINSNS) fail(syscall, 'EINVAL', `classic program length ${n} (1..4096)`);
  const insns = decodeClassic(bytes);
  const memValid = new Array<number>(n).fill(0);
  memValid[0] = 0;
  for (let pc = 0; pc < n; pc++) {
    const f = insns[pc]!;
    const bad = (why: string): never => fail(syscall, 'EINVAL', `classic insn ${pc} (code 0x${f.code.toString(16)}): ${why}`);
    if (!VALID.has(f.code)) bad('unknown opcode');
    const cls = f.code & 7;
    if (cls === ALU && (f.code & 0x08) === K && ((f.code & 0xf0) === 0x30 || (f.code & 0xf0) === 0x90) && f.k === 0) bad('division by constant 0');
    if (cls === ALU && (f.code & 0x08) === K && ((f.code & 0xf0) === 0x60 || (f.code & 0xf0) === 0x70) && f.k >= 32) bad('shift by 32 or more');
    if ((f.code & 0xe0) === MEM && (cls === LD || cls === LDX) && f.k >= BPF_MEMWORDS) bad('scratch memory index out of range');
    if ((cls === ST || cls === STX) && f.k >= BPF_MEMWORDS) bad('scratch memory index out of range');
    if (cls === JMP) {
      if ((f.code & 0xf0) === 0x00) {
        if (f.k >= n - pc - 1) bad('jump out of range');
      } else if (pc + f.jt + 1 >= n || pc + f.jf + 1 >= n) {
        bad('jump out of range');
      }
    }
  }
  const last = insns[n - 1]!;
  if (last.code !== (RET | K) && last.code !== (RET | A)) fail(syscall, 'EINVAL', 'classic program must end with "ret #k" or "ret a"');
  checkLoadAndStores(syscall, insns);
  return new ClassicProg(insns);
}

/** check_load_and_stores(): a scratch-memory load must follow a store on every path. */
function checkLoadAndStores(syscall: string, p: SockFilter[]): void {
  const n = p.length;
  const masks = new Array<number>(n).fill(0xffff);
  let memvalid = 0;
  for (let pc = 0; pc < n; pc++) {
    memvalid &= masks[pc]!;
    const f = p[pc]!;
    const cls = f.code & 7;
    if (cls === ST || cls === STX) memvalid |= 1 << f.k;
    else if ((cls === LD || cls === LDX) && (f.code & 0xe0) === MEM && !(memvalid & (1 << f.k))) {
      fail(syscall, 'EINVAL', `classic insn ${pc}: scratch memory M[${f.k}] read before written`);
    } else if (cls === JMP) {
      if ((f.code & 0xf0) === 0x00) {
        masks[pc + 1 + f.k] = masks[pc + 1 + f.k]! & memvalid;
        memvalid = 0xffff;
      } else {
        masks[pc + 1 + f.jt] = masks[pc + 1 + f.jt]! & memvalid;
        masks[pc + 1 + f.jf] = masks[pc + 1 + f.jf]! & memvalid;
        memvalid = 0xffff;
      }
    }
  }
}
