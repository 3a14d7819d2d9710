/**
 * struct sk_reuseport_md (uapi) and struct bpf_sock as a program reads them: offsets, the
 * verifier's access rules (sk_reuseport_is_valid_access, bpf_sock_is_valid_access) and the
 * bytes the simulated kernel fills in per run.
 */
export const MD_DATA = 0, MD_DATA_END = 8, MD_LEN = 16, MD_ETH_PROTOCOL = 20, MD_IP_PROTOCOL = 24;
export const MD_BIND_INANY = 28, MD_HASH = 32, MD_SK = 40, MD_MIGRATING_SK = 48;
export const SK_REUSEPORT_MD_SIZE = 56;

export type CtxFieldType = 'scalar' | 'pkt' | 'pkt_end' | 'sock' | 'sock_common_or_null';

/** null: the kernel refuses ("invalid bpf_context access off=.. size=.."). */
export function skReuseportAccess(off: number, size: number, write: boolean): CtxFieldType | null {
  if (off < 0 || off >= SK_REUSEPORT_MD_SIZE || off % size !== 0 || write) return null;
  switch (off) {
    case MD_DATA: return size === 8 ? 'pkt' : null;
    case MD_DATA_END: return size === 8 ? 'pkt_end' : null;
    case MD_HASH: return size === 4 ? 'scalar' : null;
    case MD_SK: return size === 8 ? 'sock' : null;
    case MD_MIGRATING_SK: return size === 8 ? 'sock_common_or_null' : null;
  }
  const field = off & ~3;
  if (field === MD_ETH_PROTOCOL && size < 2) return null;
  if (field === MD_ETH_PROTOCOL || field === MD_IP_PROTOCOL || field === MD_BIND_INANY || field === MD_LEN) {
    return size <= 4 ? 'scalar' : null; // bpf_ctx_narrow_access_ok
  }
  return null;
}

/** struct bpf_sock offsets. */
export const BS_BOUND_DEV_IF = 0, BS_FAMILY = 4, BS_TYPE = 8, BS_PROTOCOL = 12, BS_MARK = 16, BS_PRIORITY = 20;
export const BS_SRC_IP4 = 24, BS_SRC_IP6 = 28, BS_SRC_PORT = 44, BS_DST_PORT = 48, BS_DST_IP4 = 52, BS_DST_IP6 = 56;
export const BS_STATE = 72, BS_RX_QUEUE_MAPPING = 76, BPF_SOCK_SIZE = 80;

/** bpf_sock_is_valid_access (common: bpf_sock_common_is_valid_access, no type..priority). */
export function bpfSockAccess(off: number, size: number, write: boolean, common: boolean): boolean {
  if (write || off < 0 || off >= BPF_SOCK_SIZE || off % size !== 0) return false;
  if (common && off >= BS_TYPE && off < BS_PRIORITY + 4) return false;
  const narrow = (start: number, end: number): boolean => off >= start && off < end && size <= 4;
  if (off === BS_STATE || off === BS_FAMILY || off === BS_TYPE || off === BS_PROTOCOL || off === BS_SRC_PORT || off === BS_RX_QUEUE_MAPPING) return size <= 4;
  if (narrow(BS_SRC_IP4, BS_SRC_IP4 + 4) || narrow(BS_SRC_IP6, BS_SRC_IP6 + 16) || narrow(BS_DST_IP4, BS_DST_IP4 + 4) || narrow(BS_DST_IP6, BS_DST_IP6 + 16)) return true;
  if (off >= BS_DST_PORT && off < BS_DST_PORT + 2) return size <= 4 && (size === 4 || off + size <= BS_DST_PORT + 2);
  if (off >= BS_DST_PORT + 2 && off < BS_DST_IP4) return false;
  return size === 4;
}

/** struct __sk_buff fields a SOCKET_FILTER program may read (subset; cb[] also writable). */
export const SKB_LEN = 0, SKB_PKT_TYPE = 4, SKB_MARK = 8, SKB_QUEUE_MAPPING = 12, SKB_PROTOCOL = 16;
export const SKB_VLAN_PRESENT = 20, SKB_VLAN_TCI = 24, SKB_VLAN_PROTO = 28, SKB_PRIORITY = 32, SKB_INGRESS_IFINDEX = 36;
export const SKB_IFINDEX = 40, SKB_TC_INDEX = 44, SKB_CB = 48, SKB_HASH = 68, SKB_NAPI_ID = 84, SKB_SIZE = 192;

export function skFilterAccess(off: number, size: number, write: boolean): boolean {
  if (off < 0 || off >= SKB_SIZE || off % size !== 0 || size > 4) return false;
  if (off >= SKB_CB && off < SKB_CB + 20) return true;
  if (write) return false;
  if (off < SKB_TC_INDEX + 4) return true;
  if (off >= SKB_HASH && off < SKB_HASH + 4) return true;
  if (off >= SKB_NAPI_ID && off < SKB_NAPI_ID + 4) return true;
  return false;
}
