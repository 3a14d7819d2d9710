/** reuseport/policies: SK_REUSEPORT programs for the group, as bytecode built with the ISA builder. */
export * from './maps.js';
export * from './policy.js';
export * from './registry.js';
export { hash } from './hash.js';
export { roundRobin } from './round_robin.js';
export { weighted } from './weighted.js';
export { sticky } from './sticky.js';
export { leastLoaded } from './least_loaded.js';
export { MD } from './emit.js';
