/**
 * The maps every built-in policy shares, so the group can drive any of them the same way:
 *
 * - `socks`  REUSEPORT_SOCKARRAY slot -> worker socket (the kernel clears a slot on close).
 * - `steer`  ARRAY: [0] = n, [1..n] = the slots new connections may go to. A draining worker is
 *            not in it; weighted policies repeat a slot. Never empty while a worker is ready.
 * - `load`   ARRAY slot -> load the worker published (least-loaded reads it, Hermes-style).
 * - `state`  ARRAY of u32 policy scratch: [0] = round-robin counter.
 * - `flows`  LRU_HASH ctx->hash -> slot (UDP only): an existing flow stays with its worker while
 *            that worker's socket is still in `socks`, so a rolling restart moves only new flows.
 */
import {
  BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY,
  type MapCreateAttr,
} from '../kernel/index.js';

/** Most workers (sockarray slots) a group can have at once, old generation included. */
export const MAX_SLOTS = 64;
/** Entries of the steerable table after its count word (weights expand a slot into several). */
export const STEER_TABLE = 256;
export const FLOW_ENTRIES = 65536;

export type StdMapName = 'socks' | 'steer' | 'load' | 'state' | 'flows';

export interface MapSpec extends MapCreateAttr {
  name: string;
}

export function stdMaps(proto: 'tcp' | 'udp'): MapSpec[] {
  const maps: MapSpec[] = [
    { name: 'socks', mapType: BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: MAX_SLOTS },
    { name: 'steer', mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 + STEER_TABLE },
    { name: 'load', mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: MAX_SLOTS },
    { name: 'state', mapType: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 4 },
  ];
  if (proto === 'udp') maps.push({ name: 'flows', mapType: BPF_MAP_TYPE_LRU_HASH, keySize: 4, valueSize: 4, maxEntries: FLOW_ENTRIES });
  return maps;
}
