/**
 * Linux uapi numbers shared by both kernels (x86_64/arm64 generic values). Names follow the
 * kernel headers so that code reads like the C it models.
 */

// sys/socket.h
export const AF_UNSPEC = 0, AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10;
export const SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000, SOCK_CLOEXEC = 0o2000000;
export const IPPROTO_IP = 0, IPPROTO_TCP = 6, IPPROTO_UDP = 17, IPPROTO_IPV6 = 41;
export const SOL_SOCKET = 1, SOL_IP = 0, SOL_TCP = 6, SOL_UDP = 17, SOL_IPV6 = 41;
export const SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;
export const MSG_PEEK = 0x2, MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000, MSG_FASTOPEN = 0x20000000;
export const POLLIN = 0x1, POLLPRI = 0x2, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;

// asm-generic/socket.h (SOL_SOCKET level)
export const SO_REUSEADDR = 2, SO_TYPE = 3, SO_ERROR = 4, SO_SNDBUF = 7, SO_RCVBUF = 8;
export const SO_REUSEPORT = 15, SO_RCVTIMEO = 20, SO_SNDTIMEO = 21, SO_ACCEPTCONN = 30;
export const SO_PROTOCOL = 38, SO_DOMAIN = 39, SO_LOCK_FILTER = 44, SO_INCOMING_CPU = 49;
export const SO_ATTACH_BPF = 50, SO_ATTACH_REUSEPORT_CBPF = 51, SO_ATTACH_REUSEPORT_EBPF = 52;
export const SO_MEMINFO = 55, SO_COOKIE = 57, SO_DETACH_REUSEPORT_BPF = 68;

// netinet/tcp.h, netinet/in.h
export const TCP_NODELAY = 1, TCP_INFO = 11, TCP_FASTOPEN = 23, TCP_FASTOPEN_CONNECT = 30;
export const IPV6_V6ONLY = 26;

// linux/bpf.h: enum bpf_cmd
export const BPF_MAP_CREATE = 0, BPF_MAP_LOOKUP_ELEM = 1, BPF_MAP_UPDATE_ELEM = 2;
export const BPF_MAP_DELETE_ELEM = 3, BPF_MAP_GET_NEXT_KEY = 4, BPF_PROG_LOAD = 5;
export const BPF_OBJ_PIN = 6, BPF_OBJ_GET = 7, BPF_PROG_ATTACH = 8, BPF_PROG_DETACH = 9;
export const BPF_PROG_TEST_RUN = 10, BPF_PROG_GET_NEXT_ID = 11, BPF_MAP_GET_NEXT_ID = 12;
export const BPF_PROG_GET_FD_BY_ID = 13, BPF_MAP_GET_FD_BY_ID = 14, BPF_OBJ_GET_INFO_BY_FD = 15;
export const BPF_MAP_LOOKUP_AND_DELETE_ELEM = 21, BPF_MAP_FREEZE = 22;
export const BPF_MAP_LOOKUP_BATCH = 24, BPF_MAP_UPDATE_BATCH = 26, BPF_MAP_DELETE_BATCH = 27;
export const BPF_ENABLE_STATS = 32;

// enum bpf_map_type
export const BPF_MAP_TYPE_UNSPEC = 0, BPF_MAP_TYPE_HASH = 1, BPF_MAP_TYPE_ARRAY = 2;
export const BPF_MAP_TYPE_PROG_ARRAY = 3, BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4;
export const BPF_MAP_TYPE_PERCPU_HASH = 5, BPF_MAP_TYPE_PERCPU_ARRAY = 6;
export const BPF_MAP_TYPE_LRU_HASH = 9, BPF_MAP_TYPE_LRU_PERCPU_HASH = 10, BPF_MAP_TYPE_LPM_TRIE = 11;
export const BPF_MAP_TYPE_ARRAY_OF_MAPS = 12, BPF_MAP_TYPE_HASH_OF_MAPS = 13;
export const BPF_MAP_TYPE_SOCKMAP = 15, BPF_MAP_TYPE_SOCKHASH = 18;
export const BPF_MAP_TYPE_REUSEPORT_SOCKARRAY = 20;
export const BPF_MAP_TYPE_QUEUE = 22, BPF_MAP_TYPE_STACK = 23, BPF_MAP_TYPE_RINGBUF = 27;

// enum bpf_prog_type
export const BPF_PROG_TYPE_UNSPEC = 0, BPF_PROG_TYPE_SOCKET_FILTER = 1, BPF_PROG_TYPE_XDP = 6;
export const BPF_PROG_TYPE_SK_REUSEPORT = 21;

// enum bpf_attach_type (the two SK_REUSEPORT attach types)
export const BPF_SK_REUSEPORT_SELECT = 39, BPF_SK_REUSEPORT_SELECT_OR_MIGRATE = 40;

// map update flags
export const BPF_ANY = 0, BPF_NOEXIST = 1, BPF_EXIST = 2, BPF_F_LOCK = 4;

// map_flags
export const BPF_F_NO_PREALLOC = 1 << 0, BPF_F_NO_COMMON_LRU = 1 << 1, BPF_F_NUMA_NODE = 1 << 2;
export const BPF_F_RDONLY = 1 << 3, BPF_F_WRONLY = 1 << 4, BPF_F_STACK_BUILD_ID = 1 << 5;
export const BPF_F_ZERO_SEED = 1 << 6, BPF_F_RDONLY_PROG = 1 << 7, BPF_F_WRONLY_PROG = 1 << 8;
export const BPF_F_CLONE = 1 << 9, BPF_F_MMAPABLE = 1 << 10, BPF_F_PRESERVE_ELEMS = 1 << 11;
export const BPF_F_INNER_MAP = 1 << 12;

// enum bpf_stats_type
export const BPF_STATS_RUN_TIME = 0;

// sk_action / helper constants
export const SK_DROP = 0, SK_PASS = 1;
export const BPF_HDR_START_MAC = 0, BPF_HDR_START_NET = 1;

// TCP states as bpf_sock->state reports them (BPF_TCP_*)
export const BPF_TCP_ESTABLISHED = 1, BPF_TCP_SYN_SENT = 2, BPF_TCP_SYN_RECV = 3;
export const BPF_TCP_CLOSE = 7, BPF_TCP_LISTEN = 10, BPF_TCP_NEW_SYN_RECV = 12;

// ethertypes (host order; sk_reuseport_md.eth_protocol carries them in network order)
export const ETH_P_IP = 0x0800, ETH_P_IPV6 = 0x86dd;

/** Group capacity: sock_reuseport counts sockets in a u16 and doubles from 128. */
export const REUSEPORT_MAX_SOCKS = 32768;
