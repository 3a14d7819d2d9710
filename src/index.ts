/**
 * reuseport: programmable SO_REUSEPORT for Node.js. The package root is the product:
 *
 * ```ts
 * import { ReuseportGroup } from 'reuseport';
 * const group = new ReuseportGroup({ script: './server.js', port: 8080, workers: 4, policy: 'round-robin' });
 * await group.start();
 * ```
 * Layers below: 'reuseport/ebpf', '/vm', '/sim', '/linux', '/bpf', '/kernel', '/policies'.
 */
export { ReuseportGroup, type GroupOptions, type GroupStats, type DownReason } from './group/reuseport_group.js';
export { GroupError, type GroupErrorCode } from './group/errors.js';
export type { WorkerInfo, WorkerState } from './group/worker.js';
export type { WorkerStats, BackendKind, Proto } from './group/protocol.js';
export {
  POLICIES, DEFAULT_POLICY, policyNames, resolvePolicy, definePolicy, PolicyError,
  hash, roundRobin, weighted, sticky, leastLoaded, MAX_SLOTS, STEER_TABLE,
  type Policy, type MapSpec, type SteerEntry, type BuildOptions,
} from './policies/index.js';
