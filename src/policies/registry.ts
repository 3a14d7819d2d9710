/** Built-in policies by name, and the one place that turns a name into a policy or a clear error. */
import { hash } from './hash.js';
import { leastLoaded } from './least_loaded.js';
import { PolicyError, type Policy } from './policy.js';
import { roundRobin } from './round_robin.js';
import { sticky } from './sticky.js';
import { weighted } from './weighted.js';

export const POLICIES: ReadonlyMap<string, Policy> = new Map(
  [roundRobin, hash, weighted, sticky, leastLoaded].map((p) => [p.name, p]),
);

export const DEFAULT_POLICY = 'round-robin';

export function policyNames(): string[] {
  return [...POLICIES.keys()];
}

/** A policy by name (or the policy object itself); unknown names throw PolicyError. */
export function resolvePolicy(policy: string | Policy | undefined): Policy {
  if (policy === undefined) return POLICIES.get(DEFAULT_POLICY)!;
  if (typeof policy === 'string') {
    const p = POLICIES.get(policy) ?? POLICIES.get(policy.toLowerCase().replace(/[_ ]/g, '-'));
    if (!p) {
      throw new PolicyError('EUNKNOWNPOLICY', `unknown policy '${policy}'`, `use one of: ${policyNames().join(', ')}`);
    }
    return p;
  }
  if (typeof policy === 'object' && policy !== null && typeof policy.name === 'string' && typeof policy.build === 'function') {
    return policy;
  }
  throw new PolicyError('EBADPOLICY', 'policy must be a name or an object with name and build()', 'pass e.g. "round-robin" or definePolicy({ name, build })');
}

/** A user policy: your own program (ISA builder, maps by name) and maps. */
export function definePolicy(p: Policy): Policy {
  return resolvePolicy(p);
}
