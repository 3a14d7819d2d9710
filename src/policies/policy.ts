/**
 * A policy is an SK_REUSEPORT program plus the maps it reads. Built-ins share the group's
 * standard maps (maps.ts); a user policy may add maps of its own and reference any of them by
 * name with the ISA builder's `ldMapFd(reg, 'name')`.
 */
import { BPF_SK_REUSEPORT_SELECT_OR_MIGRATE } from '../kernel/index.js';
import type { Program } from '../ebpf/index.js';
import type { MapSpec } from './maps.js';

export interface BuildOptions {
  proto: 'tcp' | 'udp';
}

/** A slot and the weight its worker was given (1 unless the user set one). */
export interface SteerEntry {
  slot: number;
  weight: number;
}

export interface Policy {
  readonly name: string;
  readonly description: string;
  /** The program, unlinked: map references by name. */
  build(opts: BuildOptions): Program;
  /** Maps beyond the standard ones (created by the group, named for ldMapFd). */
  readonly extraMaps?: readonly MapSpec[];
  /**
   * The steerable table from the live (non-draining) slots, in steering order. Default: each
   * slot once. Weighted policies repeat slots.
   */
  table?(entries: readonly SteerEntry[]): number[];
  /**
   * SELECT_OR_MIGRATE (default for TCP): the same program also places what a closing listener
   * still had queued, which is what makes a rolling restart lose nothing.
   */
  readonly expectedAttachType?: number;
}

export class PolicyError extends Error {
  readonly code: 'EUNKNOWNPOLICY' | 'EBADPOLICY';
  readonly hint: string;
  constructor(code: 'EUNKNOWNPOLICY' | 'EBADPOLICY', message: string, hint: string) {
    super(message);
    this.name = 'PolicyError';
    this.code = code;
    this.hint = hint;
  }
}

export const DEFAULT_ATTACH = BPF_SK_REUSEPORT_SELECT_OR_MIGRATE;

export function defaultTable(entries: readonly SteerEntry[]): number[] {
  return entries.map((e) => e.slot);
}

/**
 * Smooth weighted round-robin order (nginx's algorithm): weights 5,1,1 give a a b a c a a
 * rather than a a a a a b c, so a counter walking the table never bursts on one worker.
 */
export function weightedTable(entries: readonly SteerEntry[], size: number): number[] {
  let ws = entries.map((e) => Math.max(0, Math.floor(e.weight)));
  let total = ws.reduce((a, b) => a + b, 0);
  if (total === 0) return [];
  if (total > size) {
    // Scale down, keeping every positive weight at least 1.
    ws = ws.map((w) => (w === 0 ? 0 : Math.max(1, Math.floor((w * size) / total))));
    while (ws.reduce((a, b) => a + b, 0) > size) ws[ws.indexOf(Math.max(...ws))]!--;
    total = ws.reduce((a, b) => a + b, 0);
  }
  const current = ws.map(() => 0);
  const out: number[] = [];
  for (let k = 0; k < total; k++) {
    let best = -1;
    for (let i = 0; i < ws.length; i++) {
      current[i]! += ws[i]!;
      if (ws[i]! > 0 && (best < 0 || current[i]! > current[best]!)) best = i;
    }
    current[best]! -= total;
    out.push(entries[best]!.slot);
  }
  return out;
}
