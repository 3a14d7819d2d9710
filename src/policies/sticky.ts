/**
 * sticky: the same client address always reaches the same worker (while the set of workers is
 * unchanged). The source address is read from the IP header with skb_load_bytes_relative
 * (BPF_HDR_START_NET): IPv4 saddr at offset 12 (/32), the first 8 bytes of the IPv6 saddr at
 * offset 8 (/64, one site). Multiplicative hashing spreads addresses; reciprocal_scale maps the
 * hash onto the steerable table. Without an IP header (migration of a queued connection)
 * ctx->hash is used.
 */
import { R0, R1, R2, R3, R4, R5, R6, R8, R10 } from '../ebpf/index.js';
import { BPF_HDR_START_NET, ETH_P_IP, ETH_P_IPV6 } from '../kernel/index.js';
import { epilogue, MD, prologue, scale } from './emit.js';
import type { Policy } from './policy.js';

/** skb->protocol as the context shows it: network byte order in the low 16 bits. */
const htons = (v: number): number => ((v & 0xff) << 8) | (v >> 8);
const GOLDEN = 0x9e3779b1;

export const sticky: Policy = {
  name: 'sticky',
  description: 'by client address (IPv4 /32, IPv6 /64): a client keeps its worker',
  build({ proto }) {
    const p = prologue(proto);
    p.ldxw(R2, R6, MD.eth_protocol)
      .jeq(R2, htons(ETH_P_IPV6), 'v6')
      .jne(R2, htons(ETH_P_IP), 'by_hash')
      // IPv4: 4 bytes of saddr
      .mov(R1, R6).mov(R2, 12).mov(R3, R10).add(R3, -24).mov(R4, 4).mov(R5, BPF_HDR_START_NET)
      .call('skb_load_bytes_relative')
      .jne(R0, 0, 'by_hash')
      .ldxw(R8, R10, -24)
      .ja('mix')
      .label('v6')
      // IPv6: the /64 prefix, folded into 32 bits
      .mov(R1, R6).mov(R2, 8).mov(R3, R10).add(R3, -24).mov(R4, 8).mov(R5, BPF_HDR_START_NET)
      .call('skb_load_bytes_relative')
      .jne(R0, 0, 'by_hash')
      .ldxw(R8, R10, -24)
      .ldxw(R2, R10, -20)
      .mul32(R2, GOLDEN)
      .xor32(R8, R2)
      .label('mix')
      .mul32(R8, GOLDEN)
      .ja('scale')
      .label('by_hash')
      .ldxw(R8, R6, MD.hash)
      .label('scale');
    scale(p);
    return epilogue(p, proto);
  },
};
