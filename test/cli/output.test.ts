/** The CLI's renderings: the live table, the bar chart, the error format. */
import { test as nodeTest, type TestContext } from 'node:test';

/** Every scenario is bounded: a hang fails the test instead of stalling the run. */
const test = (name: string, fn: (t: TestContext) => void | Promise<void>): Promise<void> => nodeTest(name, { timeout: 60_000 }, fn);
import assert from 'node:assert/strict';
import { barChart, formatError, table } from '../../src/cli/output.js';
import { GroupError } from '../../src/group/errors.js';

test('table: one header line, one row per worker with its counters', () => {
  const s = table({
    backend: 'kernel', policy: 'round-robin', proto: 'tcp', host: '::', port: 8080, steerable: [0, 1],
    workers: [
      { id: 1, pid: 100, slot: 0, generation: 0, state: 'ready', startedAt: 0, stats: { connections: 12, active: 2, datagrams: 0, load: 2, elu: 0.25 } },
      { id: 2, pid: 101, slot: 1, generation: 1, state: 'draining', startedAt: 0, stats: { connections: 7, active: 0, datagrams: 0, load: 0, elu: 0 } },
    ],
  });
  const lines = s.split('\n');
  assert.match(lines[0]!, /TCP \[::\]:8080 +backend kernel +policy round-robin +workers 2/);
  assert.match(lines[2]!, /^ +1 +100 +0 +0 ready +12 +2 +2 +25%$/);
  assert.match(lines[3]!, /^ +2 +101 +1 +1 draining +7 +0 +0 +0%$/);
});

test('barChart: bars proportional to the largest count, with shares', () => {
  const s = barChart({ '1': 30, '2': 10 }, 30);
  const [a, b] = s.split('\n');
  assert.equal((a!.match(/█/g) ?? []).length, 30);
  assert.equal((b!.match(/█/g) ?? []).length, 10);
  assert.match(a!, /30 \(75\.0%\)$/);
});

test('formatError: message, fix and the end of a verifier log', () => {
  const s = formatError(new GroupError('EPOLICYLOAD', "policy 'x' was refused", { hint: 'fix the program', log: '0: (95) exit\nR0 !read_ok\n' }));
  assert.match(s, /^reuseport: error: policy 'x' was refused\n  fix: fix the program\n  verifier log:\n    0: \(95\) exit\n    R0 !read_ok/);
});
