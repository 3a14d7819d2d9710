/**
 * bpf(2) command checks shared by map types (kernel/bpf/syscall.c map_create order), and the
 * map-type dispatch. Errnos follow the kernel's order: parameter EINVALs from map_alloc_check
 * come before the capability EPERM, type-specific allocation errors after it.
 */
import {
  BPF_F_NUMA_NODE, BPF_F_RDONLY, BPF_F_WRONLY, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH,
  BPF_MAP_TYPE_HASH_OF_MAPS, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY,
  BPF_MAP_TYPE_SOCKHASH, BPF_MAP_TYPE_SOCKMAP, fail, type MapCreateAttr,
} from '../kernel/index.js';
import { ArrayMap, arrayAllocCheck } from './arraymap.js';
import type { BpfMap } from './bpf_map.js';
import { HashMap, htabAllocCheck } from './hashtab.js';
import { MapInMap, checkInnerTemplate, mapInMapAllocCheck } from './map_in_map.js';
import { ReuseportArray, reuseportArrayAllocCheck } from './reuseport_array.js';
import { SockHash, SockMap, sockMapAllocCheck } from './sockmap.js';

export const SC_MAP_CREATE = 'bpf(BPF_MAP_CREATE)';
/** Value storage above this is refused with ENOMEM (the simulated kernel's memory). */
export const SIM_MAP_MEMORY_LIMIT = 256 * 1024 * 1024;

/** bpf_obj_name_cpy(): at most 15 characters of [A-Za-z0-9_.]. */
export function checkObjName(sc: string, name: string | undefined): string {
  if (name === undefined) return '';
  if (typeof name !== 'string' || name.length > 15 || !/^[A-Za-z0-9_.]*$/.test(name)) fail(sc, 'EINVAL', `object name ${JSON.stringify(name)} (at most 15 characters of [A-Za-z0-9_.])`);
  return name;
}

export interface CreateEnv {
  caps: ReadonlySet<string>;
  unprivilegedBpfDisabled: number;
  cpus: number;
  innerMap(fd: number): BpfMap;
}

const CAP_BPF_TYPES = new Set([BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, BPF_MAP_TYPE_LRU_HASH]);
const CAP_NET_ADMIN_TYPES = new Set([BPF_MAP_TYPE_SOCKMAP, BPF_MAP_TYPE_SOCKHASH]);
const SUPPORTED = new Set([
  BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_ARRAY_OF_MAPS,
  BPF_MAP_TYPE_HASH_OF_MAPS, BPF_MAP_TYPE_SOCKMAP, BPF_MAP_TYPE_SOCKHASH, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY,
]);

const isU32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/** map_create(): returns the new map (not yet registered). */
export function mapCreate(a: MapCreateAttr, env: CreateEnv): BpfMap {
  const sc = SC_MAP_CREATE;
  if (typeof a !== 'object' || a === null) fail(sc, 'EFAULT', 'attr must be an object');
  for (const k of ['mapType', 'keySize', 'valueSize', 'maxEntries'] as const) if (!isU32(a[k])) fail(sc, 'EINVAL', `${k} must be a u32, got ${String(a[k])}`);
  const flags = a.mapFlags ?? 0;
  if (!isU32(flags)) fail(sc, 'EINVAL', `mapFlags must be a u32, got ${String(flags)}`);
  if ((flags & BPF_F_RDONLY) && (flags & BPF_F_WRONLY)) fail(sc, 'EINVAL', 'BPF_F_RDONLY and BPF_F_WRONLY together');
  if (flags & BPF_F_NUMA_NODE && (a.numaNode ?? 0) !== 0) fail(sc, 'EINVAL', `NUMA node ${a.numaNode} is not online (the simulated machine has node 0)`);
  const t = a.mapType;
  if (!SUPPORTED.has(t)) fail(sc, 'EINVAL', `map type ${t} is not supported by the simulated kernel`);
  const sysAdmin = env.caps.has('CAP_SYS_ADMIN');
  // ops->map_alloc_check
  switch (t) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY: arrayAllocCheck(sc, a); break;
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_LRU_HASH: htabAllocCheck(sc, a, sysAdmin); break;
    case BPF_MAP_TYPE_REUSEPORT_SOCKARRAY: reuseportArrayAllocCheck(sc, a); break;
    case BPF_MAP_TYPE_ARRAY_OF_MAPS:
    case BPF_MAP_TYPE_HASH_OF_MAPS: mapInMapAllocCheck(sc, a, sysAdmin); break;
  }
  // capabilities (map_create, 6.5+)
  const bpfCap = env.caps.has('CAP_BPF') || sysAdmin;
  if (env.unprivilegedBpfDisabled && !bpfCap) fail(sc, 'EPERM', 'kernel.unprivileged_bpf_disabled is set and CAP_BPF is missing');
  if (CAP_BPF_TYPES.has(t) && !bpfCap) fail(sc, 'EPERM', `map type ${t} needs CAP_BPF`);
  if (CAP_NET_ADMIN_TYPES.has(t) && !(env.caps.has('CAP_NET_ADMIN') || sysAdmin)) fail(sc, 'EPERM', `map type ${t} needs CAP_NET_ADMIN`);
  const stored = flags & ~(BPF_F_RDONLY | BPF_F_WRONLY);
  const elem = ((a.valueSize + 7) & ~7) * (t === BPF_MAP_TYPE_PERCPU_ARRAY ? env.cpus : 1);
  const need = t === BPF_MAP_TYPE_REUSEPORT_SOCKARRAY || t === BPF_MAP_TYPE_SOCKMAP ? 8 * a.maxEntries : elem * a.maxEntries;
  if (need > SIM_MAP_MEMORY_LIMIT) fail(sc, 'ENOMEM', `${need} bytes of map memory exceed the simulated kernel's ${SIM_MAP_MEMORY_LIMIT}`);
  let m: BpfMap;
  switch (t) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY: m = new ArrayMap(a, stored, env.cpus); break;
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_LRU_HASH: m = new HashMap(a, stored); break;
    case BPF_MAP_TYPE_REUSEPORT_SOCKARRAY: m = new ReuseportArray(a, stored); break;
    case BPF_MAP_TYPE_SOCKMAP: sockMapAllocCheck(sc, a); m = new SockMap(a, stored); break;
    case BPF_MAP_TYPE_SOCKHASH: sockMapAllocCheck(sc, a); m = new SockHash(a, stored); break;
    default: {
      if (a.innerMapFd === undefined) fail(sc, 'EBADF', 'map-in-map needs innerMapFd');
      const inner = env.innerMap(a.innerMapFd);
      checkInnerTemplate(sc, inner);
      m = new MapInMap(a, stored, inner);
    }
  }
  if (m.storageSize() > SIM_MAP_MEMORY_LIMIT) fail(sc, 'ENOMEM', `value storage of ${m.storageSize()} bytes exceeds the simulated kernel's ${SIM_MAP_MEMORY_LIMIT}`);
  checkObjName(sc, a.name);
  return m;
}
