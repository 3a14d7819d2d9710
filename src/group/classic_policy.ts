/**
 * Classic BPF (SO_ATTACH_REUSEPORT_CBPF) versions of the policies that need no map, for the
 * unprivileged `cbpf` backend: attaching a classic program needs no capability. A classic
 * program returns an index into the group's socks[] (join order); an index out of range falls
 * back to the kernel's hash, so nothing is ever dropped.
 *
 * - hash:   no program at all (the kernel's own hash);
 * - sticky: hash of the client address read from the IP header (SKF_NET_OFF): IPv4 /32,
 *           IPv6 /64, modulo the number of workers.
 * Every other policy needs maps (counters, tables, loads): not expressible.
 */
import { encodeClassic, SKF_NET_OFF, type SockFilter } from '../ebpf/classic.js';

const LD_W_ABS = 0x20, LD_B_ABS = 0x30, ALU_MUL_K = 0x24, ALU_RSH_K = 0x74, ALU_MOD_K = 0x94;
const ALU_XOR_X = 0xac, MISC_TAX = 0x07, JMP_JEQ_K = 0x15, JMP_JA = 0x05, RET_A = 0x16;

const I = (code: number, k = 0, jt = 0, jf = 0): SockFilter => ({ code, jt, jf, k });

/** Client-address stickiness over `n` sockets. */
export function stickyClassic(n: number): Uint8Array {
  return encodeClassic([
    I(LD_B_ABS, SKF_NET_OFF + 0),     // 0: A = first byte of the IP header
    I(ALU_RSH_K, 4),                  // 1: A = IP version
    I(JMP_JEQ_K, 6, 2, 0),            // 2: IPv6 -> 5
    I(LD_W_ABS, SKF_NET_OFF + 12),    // 3: IPv4 saddr
    I(JMP_JA, 4),                     // 4: -> 9
    I(LD_W_ABS, SKF_NET_OFF + 8),     // 5: IPv6 saddr[0..3]
    I(MISC_TAX),                      // 6: X = A
    I(LD_W_ABS, SKF_NET_OFF + 12),    // 7: IPv6 saddr[4..7]: the /64 prefix
    I(ALU_XOR_X),                     // 8: A ^= X
    I(ALU_MUL_K, 0x9e3779b1),         // 9: spread the address bits upwards
    I(ALU_RSH_K, 16),                 // 10
    I(ALU_MOD_K, Math.max(1, n)),     // 11: A %= n
    I(RET_A),                         // 12: socks[A]
  ]);
}

/**
 * The classic program for `policy` over `n` listening sockets: bytes, null for "no program"
 * (the kernel's hash), undefined when the policy cannot be written in classic BPF.
 */
export function classicProgram(policy: string, n: number): Uint8Array | null | undefined {
  if (policy === 'hash') return null;
  if (policy === 'sticky') return stickyClassic(n);
  return undefined;
}
