/**
 * weighted: round-robin over a table in which each worker appears as often as its weight,
 * interleaved smoothly (nginx's smooth weighted round-robin), so shares follow the weights
 * exactly and no worker gets a burst.
 */
import { epilogue, prologue } from './emit.js';
import { STEER_TABLE } from './maps.js';
import { weightedTable, type Policy } from './policy.js';
import { nextTicket } from './round_robin.js';

export const weighted: Policy = {
  name: 'weighted',
  description: 'round-robin in proportion to per-worker weights (smooth weighted table)',
  build({ proto }) {
    return epilogue(nextTicket(prologue(proto)), proto);
  },
  table: (entries) => weightedTable(entries, STEER_TABLE),
};
