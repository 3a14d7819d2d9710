/**
 * The built-in policies as SK_REUSEPORT bytecode, run against the simulator and the real kernel
 * with the same scenarios: which listener gets each connection/datagram, drain-awareness, UDP
 * flow stickiness, and "never drop on a failed lookup".
 */
import { test as nodeTest, type TestContext } from 'node:test';

/** Every scenario is bounded: a hang fails the test instead of stalling the run. */
const test = (name: string, fn: (t: TestContext) => void | Promise<void>): Promise<void> => nodeTest(name, { timeout: 60_000 }, fn);
import assert from 'node:assert/strict';
import { SK_PASS, type Kernel } from '../../src/kernel/index.js';
import { program, R0, R2, R3, R4, R10 } from '../../src/ebpf/index.js';
import { hash, leastLoaded, roundRobin, sticky, weighted, definePolicy, resolvePolicy, PolicyError, type Policy } from '../../src/policies/index.js';
import { GroupError } from '../../src/group/errors.js';
import { targets, requireKernel as REQUIRE, type KernelTarget } from '../support/scenario_kernels.js';
import { makeHarness, type Harness } from './harness.js';

const all = await targets();

function scenario(name: string, body: (k: Kernel, t: TestContext) => void): void {
  for (const target of all) {
    test(`${name} [${target.kind}]`, (t) => {
      const k = available(target, t);
      if (!k) return;
      try {
        body(k, t);
      } finally {
        target.release(k);
      }
    });
  }
}

function available(target: KernelTarget, t: TestContext): Kernel | undefined {
  if (target.unavailable) {
    if (target.kind === 'linux' && REQUIRE) assert.fail(`real kernel unavailable: ${target.unavailable} (REUSEPORT_REQUIRE_KERNEL=1)`);
    t.skip(`${target.kind} kernel unavailable: ${target.unavailable}`);
    return undefined;
  }
  return target.fresh();
}

function withHarness(k: Kernel, proto: 'tcp' | 'udp', n: number, policy: Policy, body: (h: Harness) => void): void {
  const h = makeHarness(k, proto, n, policy);
  try {
    body(h);
  } finally {
    h.close();
  }
}

for (const proto of ['tcp', 'udp'] as const) {
  scenario(`round-robin ${proto}: connection k goes to steerable slot k % n`, (k) => {
    withHarness(k, proto, 4, roundRobin, (h) => {
      h.steer([0, 1, 2, 3]);
      const order = Array.from({ length: 8 }, () => h.hit());
      assert.deepEqual(order, [0, 1, 2, 3, 0, 1, 2, 3]);
    });
  });

  scenario(`round-robin ${proto}: a draining slot gets nothing new`, (k) => {
    withHarness(k, proto, 4, roundRobin, (h) => {
      h.steer([0, 2, 3]);
      assert.deepEqual(h.hits(30), [10, 0, 10, 10]);
    });
  });

  scenario(`hash ${proto}: everything reaches a steerable slot, never the draining one`, (k) => {
    withHarness(k, proto, 3, hash, (h) => {
      h.steer([0, 2]);
      const per = h.hits(40);
      assert.equal(per[1], 0);
      assert.equal(per[0]! + per[2]!, 40);
    });
  });

  scenario(`weighted ${proto}: shares follow the weights 3:1`, (k) => {
    withHarness(k, proto, 2, weighted, (h) => {
      h.steer([{ slot: 0, weight: 3 }, { slot: 1, weight: 1 }]);
      assert.deepEqual(h.hits(40), [30, 10]);
    });
  });

  scenario(`sticky ${proto}: one client address always reaches the same slot`, (k) => {
    withHarness(k, proto, 4, sticky, (h) => {
      h.steer([0, 1, 2, 3]);
      const seen = new Set<number>();
      for (let host = 2; host <= 13; host++) {
        const addr = `127.0.0.${host}`;
        const first = h.hit(addr);
        seen.add(first);
        assert.equal(h.hit(addr), first, `${addr} moved`);
        assert.equal(h.hit(addr), first, `${addr} moved`);
      }
      assert.ok(seen.size >= 2, `12 addresses all landed on one slot: ${[...seen]}`);
    });
  });

  scenario(`least-loaded ${proto}: the slot with the lowest published load wins`, (k) => {
    withHarness(k, proto, 4, leastLoaded, (h) => {
      h.steer([0, 1, 2, 3]);
      [5, 9, 1, 7].forEach((l, slot) => h.steering.setLoad(slot, l));
      assert.equal(h.hit(), 2);
      [5, 9, 8, 0].forEach((l, slot) => h.steering.setLoad(slot, l));
      assert.equal(h.hit(), 3);
      // a draining slot is skipped even with the lowest load
      h.steer([0, 1, 2]);
      assert.equal(h.hit(), 0);
      // equal loads rotate instead of piling onto one slot
      h.steer([0, 1, 2, 3]);
      [0, 0, 0, 0].forEach((l, slot) => h.steering.setLoad(slot, l));
      assert.equal(new Set(Array.from({ length: 4 }, () => h.hit())).size, 4);
    });
  });

  scenario(`every policy ${proto}: an empty steerable table falls back to the kernel hash (no drop)`, (k) => {
    for (const policy of [roundRobin, hash, weighted, sticky, leastLoaded]) {
      withHarness(k, proto, 2, policy, (h) => {
        h.steer([]);
        const per = h.hits(6);
        assert.equal(per[0]! + per[1]!, 6, `${policy.name} dropped`);
      });
    }
  });
}

scenario('udp flows: an existing flow stays on its draining worker, new flows avoid it', (k) => {
  withHarness(k, 'udp', 3, roundRobin, (h) => {
    h.steer([0, 1, 2]);
    const flowA = h.hit('127.0.0.1', 41000);
    const flowB = h.hit('127.0.0.1', 41001);
    assert.notEqual(flowA, flowB);
    h.steer([0, 1, 2].filter((s) => s !== flowA)); // flowA's worker starts draining
    for (let i = 0; i < 3; i++) assert.equal(h.hit('127.0.0.1', 41000), flowA, 'existing flow moved off its worker');
    for (let i = 0; i < 6; i++) assert.notEqual(h.hit(), flowA, 'a new flow reached the draining worker');
  });
});

scenario('udp flows: once the draining socket closes, its flows move to a live worker', (k) => {
  withHarness(k, 'udp', 2, roundRobin, (h) => {
    h.steer([0, 1]);
    const flow = h.hit('127.0.0.1', 41010);
    h.steer([1 - flow]);
    h.closeListener(flow);
    assert.equal(h.hit('127.0.0.1', 41010), 1 - flow);
  });
});

scenario('a policy the verifier refuses leaves the old program steering and reports the log', (k) => {
  withHarness(k, 'tcp', 2, roundRobin, (h) => {
    h.steer([0, 1]);
    const broken = definePolicy({ name: 'broken', description: 'exits without setting r0', build: () => program().exit() });
    assert.throws(() => h.steering.load(broken), (e: unknown) => {
      assert.ok(e instanceof GroupError);
      assert.equal(e.code, 'EPOLICYLOAD');
      assert.match(e.log ?? '', /R0 !read_ok/);
      return true;
    });
    assert.deepEqual(h.hits(4), [2, 2]);
  });
});

scenario('a user policy: its own program, the group maps by name (always slot 1)', (k) => {
  const pinned = definePolicy({
    name: 'pin-one',
    description: 'steer everything to slot 1',
    build: () => program()
      .stw(R10, -4, 1)
      .ldMapFd(R2, 'socks')
      .mov(R3, R10).add(R3, -4)
      .mov(R4, 0)
      .call('sk_select_reuseport')
      .mov(R0, SK_PASS)
      .exit(),
  });
  withHarness(k, 'tcp', 3, pinned, (h) => {
    assert.deepEqual(h.hits(5), [0, 5, 0]);
  });
});

test('sticky over IPv6: one /64 keeps its worker, other /64s spread [linux]', async (t) => {
  const target = all.find((x) => x.kind === 'linux')!;
  const k = available(target, t);
  if (!k) return;
  const { execFileSync } = await import('node:child_process');
  // source addresses in 8 different /64s, two hosts each, on lo of this private namespace
  const nets = Array.from({ length: 8 }, (_, i) => `2001:db8:${i + 1}:0`);
  for (const n of nets) for (const h of ['1', '2']) execFileSync('ip', ['-6', 'addr', 'add', `${n}::${h}/128`, 'dev', 'lo', 'nodad']);
  for (const proto of ['tcp', 'udp'] as const) {
    withHarness6(k, proto, (h) => {
      h.steer([0, 1, 2, 3]);
      const seen = new Set<number>();
      for (const n of nets) {
        const first = h.hit(`${n}::1`);
        seen.add(first);
        assert.equal(h.hit(`${n}::2`), first, `${n}::/64 split across workers (${proto})`);
        assert.equal(h.hit(`${n}::1`), first);
      }
      assert.ok(seen.size >= 2, `8 prefixes all on one worker (${proto})`);
    });
  }
});

function withHarness6(k: Kernel, proto: 'tcp' | 'udp', body: (h: Harness) => void): void {
  const h = makeHarness(k, proto, 4, sticky, 6);
  try {
    body(h);
  } finally {
    h.close();
  }
}

test('policy names: unknown names are refused with the list of known ones', () => {
  assert.equal(resolvePolicy('round-robin').name, 'round-robin');
  assert.equal(resolvePolicy('least_loaded').name, 'least-loaded');
  assert.throws(() => resolvePolicy('fastest'), (e: unknown) => e instanceof PolicyError && e.code === 'EUNKNOWNPOLICY' && /round-robin/.test(e.hint));
});

