/**
 * ReuseportGroup end to end: real worker processes running ordinary server scripts, on the
 * kernel backend (real sockarray + program, private netns) and on the emulated backend (the
 * primary runs the same bytecode in the simulator). Same scenarios, same expectations.
 */
import { test as nodeTest, type TestContext } from 'node:test';

/** Every scenario is bounded: a hang fails the test instead of stalling the run. */
const test = (name: string, fn: (t: TestContext) => void | Promise<void>): Promise<void> => nodeTest(name, { timeout: 60_000 }, fn);
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { ReuseportGroup } from '../../src/group/reuseport_group.js';
import { GroupError } from '../../src/group/errors.js';
import { definePolicy } from '../../src/policies/index.js';
import { program } from '../../src/ebpf/index.js';
import {
  alive, BACKENDS, backendAvailable, counts, FAST, fixture, get, httpLoad, nextPort, portFree, sleep, socketInodes, startGroup, until,
} from './support.js';

for (const backend of BACKENDS) {
  test(`round-robin spreads connections evenly over the workers [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const g = await startGroup(t, { script: fixture('http_worker.mjs'), workers: 3, backend });
    assert.equal(g.backendKind, backend);
    assert.deepEqual(Object.values(await counts(g.port, 30)), [10, 10, 10]);
    await until(() => g.workers().every((w) => w.stats.connections >= 10), 'stats to arrive');
    assert.deepEqual(g.workers().map((w) => w.stats.connections), [10, 10, 10]);
  });

  test(`a CommonJS net server and a listen on another port both work [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const g = await startGroup(t, { script: fixture('cjs_worker.cjs'), workers: 2, backend });
    const lines = await Promise.all([0, 1, 2, 3].map(() => new Promise<string>((resolve, reject) => {
      const s = net.connect(g.port, '127.0.0.1');
      let d = '';
      s.on('data', (b) => (d += b));
      s.on('end', () => resolve(d.trim()));
      s.on('error', reject);
    })));
    assert.deepEqual(new Set(lines), new Set(['cjs 1', 'cjs 2']));
    const side = nextPort(); // worker 1 listens on side + 1
    nextPort();
    const g2 = await startGroup(t, { script: fixture('http_worker.mjs'), workers: 1, backend, env: { ...process.env, SIDE_PORT: String(side) } });
    await until(() => g2.workers().length === 1, 'worker');
    const id = g2.workers()[0]!.id;
    let body = '';
    for (let i = 0; i < 50 && body === ''; i++) {
      body = await new Promise<string>((resolve) => {
        http.get({ host: '127.0.0.1', port: side + id, agent: false }, (r) => {
          let b = '';
          r.on('data', (x) => (b += x));
          r.on('end', () => resolve(b));
        }).on('error', () => resolve(''));
      });
      if (body === '') await sleep(20);
    }
    assert.equal(body, `side ${id}`);
  });

  test(`drainWorker: nothing new reaches it, its in-flight request finishes, then it exits [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const g = await startGroup(t, { script: fixture('http_worker.mjs'), workers: 2, backend });
    // find a slow request's worker, then drain that worker while the request is in flight
    const slow = get(g.port, '/slow');
    await sleep(100);
    const busy = g.workers().find((w) => w.stats.active > 0) ?? (await until(() => g.workers().some((w) => w.stats.active > 0), 'active').then(() => g.workers().find((w) => w.stats.active > 0)));
    assert.ok(busy);
    const drained = g.drainWorker(busy.id);
    const during = await counts(g.port, 6);
    assert.equal(during[String(busy.id)], undefined, 'a draining worker got a new connection');
    const r = await slow;
    assert.equal(r.status, 200);
    assert.equal(r.body, `slow ${busy.id}`);
    await drained;
    assert.equal(alive(busy.pid), false);
    assert.deepEqual(g.workers().map((w) => w.id).includes(busy.id), false);
  });

  test(`rolling restart under continuous load: no failed request, all workers replaced [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    // drainGraceMs 0: an old listener closes with connections still queued; the kernel moves
    // them (SELECT_OR_MIGRATE program) instead of resetting them
    const g = await startGroup(t, { script: fixture('http_worker.mjs'), workers: 2, backend, drainGraceMs: 0 });
    const before = g.workers().map((w) => w.id);
    const load = httpLoad(g.port, 8);
    await sleep(150);
    const done = new Promise((r) => g.once('restart-complete', r));
    await g.rollingRestart();
    await done;
    await sleep(150);
    const { ok, failures } = await load.stop();
    assert.deepEqual(failures, []);
    assert.ok(ok > 20, `only ${ok} requests`);
    const after = g.workers().map((w) => w.id);
    assert.equal(after.length, 2);
    assert.ok(after.every((id) => !before.includes(id)));
  });

  test(`a crashed worker is removed, never steered to, and respawned [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const g = await startGroup(t, { script: fixture('http_worker.mjs'), workers: 2, backend });
    const downs: string[] = [];
    g.on('worker-down', (_w, info: { reason: string }) => downs.push(info.reason));
    const up = new Promise((r) => g.once('worker-up', r));
    const victim = (await get(g.port, '/crash')).worker;
    await up;
    assert.deepEqual(downs, ['crashed']);
    const now = g.workers();
    assert.equal(now.length, 2);
    assert.ok(!now.some((w) => String(w.id) === victim));
    const c = await counts(g.port, 8);
    assert.equal(c[victim], undefined);
    assert.equal(Object.values(c).reduce((a, b) => a + b, 0), 8);
  });

  test(`heartbeat: a worker that stops answering is drained and replaced [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const g = await startGroup(t, { script: fixture('http_worker.mjs'), workers: 2, backend, drainTimeoutMs: 300 });
    const reasons: string[] = [];
    g.on('worker-down', (_w, info: { reason: string }) => reasons.push(info.reason));
    const stuck = (await get(g.port, '/hang')).worker;
    const stuckPid = g.workers().find((w) => String(w.id) === stuck)!.pid;
    await until(() => reasons.length === 1 && g.workers().length === 2 && g.workers().every((w) => w.state === 'ready'), 'replacement', 6000);
    assert.ok(['unresponsive', 'killed'].includes(reasons[0]!), reasons[0]);
    assert.equal(alive(stuckPid), false);
    const c = await counts(g.port, 6);
    assert.equal(c[stuck], undefined);
  });

  test(`policy change at run time, and a refused program keeps the old one [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const g = await startGroup(t, { script: fixture('http_worker.mjs'), workers: 2, backend, policy: 'hash' });
    const changes: unknown[] = [];
    g.on('policy-changed', (c) => changes.push(c));
    g.setPolicy('round-robin');
    assert.equal(g.policyName, 'round-robin');
    assert.deepEqual(changes, [{ from: 'hash', to: 'round-robin' }]);
    assert.deepEqual(Object.values(await counts(g.port, 10)), [5, 5]);
    const broken = definePolicy({ name: 'broken', description: 'no r0', build: () => program().exit() });
    assert.throws(() => g.setPolicy(broken), (e: unknown) => e instanceof GroupError && e.code === 'EPOLICYLOAD' && /R0/.test(e.log ?? ''));
    assert.equal(g.policyName, 'round-robin');
    assert.deepEqual(Object.values(await counts(g.port, 10)), [5, 5]);
    assert.throws(() => g.setPolicy('fastest'), (e: unknown) => e instanceof GroupError && e.code === 'EUNKNOWNPOLICY');
  });

  test(`add, replace and remove workers; weighted shares follow setWeight [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const g = await startGroup(t, { script: fixture('http_worker.mjs'), workers: 1, backend, policy: 'weighted' });
    const added = await g.addWorker({ weight: 3 });
    assert.equal(g.workers().length, 2);
    const c = await counts(g.port, 40);
    assert.equal(c[String(added.id)], 30);
    const first = g.workers()[0]!.id;
    const fresh = await g.replaceWorker(first);
    assert.deepEqual(g.workers().map((w) => w.id).sort(), [added.id, fresh.id].sort());
    await g.removeWorker(added.id);
    assert.deepEqual(Object.keys(await counts(g.port, 4)), [String(fresh.id)]);
  });

  test(`UDP: each flow stays with its worker [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const dgram = await import('node:dgram');
    const g = await startGroup(t, { script: fixture('udp_echo.mjs'), workers: 3, backend, proto: 'udp', host: '::' });
    const clients = await Promise.all([0, 1, 2, 3, 4, 5].map(() => new Promise<import('node:dgram').Socket>((r) => {
      const c = dgram.createSocket('udp4');
      c.bind(0, '127.0.0.1', () => r(c));
    })));
    t.after(() => clients.forEach((c) => c.close()));
    const ask = (c: import('node:dgram').Socket, m: string): Promise<string> => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no reply')), 2000);
      c.once('message', (b) => { clearTimeout(timer); resolve(String(b).split(':')[0]!); });
      c.send(m, g.port, '127.0.0.1');
    });
    const first: string[] = [];
    for (const c of clients) first.push(await ask(c, 'a'));
    assert.equal(new Set(first).size, 3, 'round-robin over 3 workers');
    for (let i = 0; i < clients.length; i++) assert.equal(await ask(clients[i]!, 'b'), first[i]);
    await until(() => g.workers().reduce((a, w) => a + w.stats.datagrams, 0) >= 12, 'datagram stats');
  });
}

test('bad input: unknown policy, bad options', () => {
  assert.throws(() => new ReuseportGroup({ script: fixture('http_worker.mjs'), port: 8080, policy: 'fastest' }),
    (e: unknown) => e instanceof GroupError && e.code === 'EUNKNOWNPOLICY' && /round-robin/.test(e.hint ?? ''));
  assert.throws(() => new ReuseportGroup({ script: fixture('nope.mjs'), port: 8080 }), (e: unknown) => e instanceof GroupError && e.code === 'EINVALIDOPTION');
  assert.throws(() => new ReuseportGroup({ script: fixture('http_worker.mjs'), port: 70000 }), (e: unknown) => e instanceof GroupError && /port/.test(e.message));
  assert.throws(() => new ReuseportGroup({ script: fixture('http_worker.mjs'), port: 8080, workers: 0 }), (e: unknown) => e instanceof GroupError && /workers/.test(e.message));
  assert.throws(() => new ReuseportGroup({ script: fixture('http_worker.mjs'), port: 8080, backend: 'ebpf' as never }), (e: unknown) => e instanceof GroupError && /backend/.test(e.message));
});

for (const backend of BACKENDS) {
  test(`bad input: a worker that throws on start fails start() with its error; no orphan, no leaked socket [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const port = nextPort();
    const g = new ReuseportGroup({ script: fixture('throws.mjs'), port, host: '127.0.0.1', workers: 2, backend, ...FAST });
    const pids: number[] = [];
    g.on('worker-down', (w: { pid?: number }) => w.pid && pids.push(w.pid));
    await assert.rejects(g.start(), (e: unknown) => e instanceof GroupError && e.code === 'EWORKERSTART' && /DATABASE_URL is not set/.test(e.message));
    await sleep(50);
    assert.ok(pids.every((p) => !alive(p)));
    assert.equal(await portFree(port), true);
  });

  test(`bad input: a worker that never listens times out cleanly [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const port = nextPort();
    const g = new ReuseportGroup({ script: fixture('never_listens.mjs'), port, host: '127.0.0.1', workers: 1, backend, ...FAST, readyTimeoutMs: 400 });
    await assert.rejects(g.start(), (e: unknown) => e instanceof GroupError && e.code === 'EREADYTIMEOUT');
    assert.equal(await portFree(port), true);
  });

  test(`bad input: port already in use is refused with how to find the holder [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const port = nextPort();
    const holder = net.createServer().listen(port, '127.0.0.1');
    await new Promise((r) => holder.once('listening', r));
    t.after(() => holder.close());
    const g = new ReuseportGroup({ script: fixture('http_worker.mjs'), port, host: '127.0.0.1', workers: 1, backend, ...FAST });
    await assert.rejects(g.start(), (e: unknown) => e instanceof GroupError && e.code === 'EADDRINUSE' && /ss -/.test(e.hint ?? ''));
  });

  test(`bad input: UDP port already bound elsewhere is refused [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const dgram = await import('node:dgram');
    const port = nextPort();
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((r) => holder.bind(port, '127.0.0.1', () => r()));
    t.after(() => holder.close());
    const g = new ReuseportGroup({ script: fixture('udp_echo.mjs'), port, host: '127.0.0.1', proto: 'udp', workers: 1, backend, ...FAST });
    await assert.rejects(g.start(), (e: unknown) => e instanceof GroupError && e.code === 'EADDRINUSE');
  });
}

test('kernel backend: the primary keeps no copy of any worker socket', async (t) => {
  if (!backendAvailable(t, 'kernel')) return;
  const g = await startGroup(t, { script: fixture('http_worker.mjs'), workers: 2, backend: 'kernel' });
  const mine = socketInodes('self');
  for (const w of g.workers()) {
    const theirs = socketInodes(w.pid!);
    const shared = [...theirs].filter((s) => mine.has(s));
    // the IPC channel is the one socket both ends legitimately share... as a socketpair, whose
    // two ends have different inodes: nothing at all may be shared
    assert.deepEqual(shared, [], `primary holds worker ${w.id}'s socket`);
  }
  assert.deepEqual(Object.values(await counts(g.port, 4)), [2, 2]);
});

for (const backend of BACKENDS) {
  test(`shutdown: all workers exit, the port is free again [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const g = new ReuseportGroup({ script: fixture('http_worker.mjs'), port: nextPort(), host: '127.0.0.1', workers: 2, backend, ...FAST });
    await g.start();
    const pids = g.workers().map((w) => w.pid);
    await g.shutdown();
    assert.ok(pids.every((p) => !alive(p)));
    assert.equal(await portFree(g.port), true);
  });
}

test('kernel backend: --user runs workers unprivileged while the primary keeps bpf()', async (t) => {
  if (!backendAvailable(t, 'kernel')) return;
  if (process.getuid?.() !== 0) return t.skip('needs a root primary');
  const { readFileSync } = await import('node:fs');
  const g = await startGroup(t, { script: fixture('http_worker.mjs'), workers: 2, backend: 'kernel', user: 'nobody' });
  for (const w of g.workers()) {
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${w.pid}/status`, 'utf8'))![1];
    assert.equal(uid, '65534');
  }
  assert.deepEqual(Object.values(await counts(g.port, 4)), [2, 2]);
});

for (const backend of BACKENDS) {
  test(`UDP rolling restart: a live flow stays on its old worker, new flows go to the new generation, nothing lost [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const dgram = await import('node:dgram');
    const g = await startGroup(t, { script: fixture('udp_echo.mjs'), workers: 1, backend, proto: 'udp', host: '::', flowIdleMs: 200 });
    const open = (): Promise<import('node:dgram').Socket> => new Promise((r) => {
      const c = dgram.createSocket('udp4');
      c.bind(0, '127.0.0.1', () => r(c));
    });
    const a = await open();
    const b = await open();
    t.after(() => { a.close(); b.close(); });
    const repliesA: string[] = [];
    a.on('message', (m) => repliesA.push(String(m)));
    let sent = 0;
    const tick = setInterval(() => a.send(String(sent++), g.port, '127.0.0.1'), 10);
    await until(() => repliesA.length >= 5, 'flow A answered');
    const oldWorker = repliesA[0]!.split(':')[0];
    const restart = g.rollingRestart();
    await until(() => g.workers().some((w) => w.generation === 1 && w.state === 'ready'), 'new generation up');
    const replyB = await new Promise<string>((resolve) => {
      b.once('message', (m) => resolve(String(m)));
      b.send('new', g.port, '127.0.0.1');
    });
    assert.notEqual(replyB.split(':')[0], oldWorker, 'a new flow reached the draining generation');
    await sleep(100);
    assert.ok(repliesA.slice(-5).every((r) => r.startsWith(`${oldWorker}:`)), 'the live flow moved while its worker was draining');
    clearInterval(tick);
    await restart;
    await until(() => repliesA.length === sent, `all ${sent} datagrams of flow A answered (got ${repliesA.length})`, 3000);
  });
}

test('crash loop: respawns back off exponentially (initial, 2x, 4x ...)', async (t) => {
  const g = await startGroup(t, { script: fixture('crash_loop.mjs'), workers: 1, backend: 'emulated', restartBackoff: { initialMs: 40, maxMs: 160, stableMs: 10_000 } });
  const delays: number[] = [];
  g.on('warning', (m: string) => {
    const d = /respawning in (\d+) ms/.exec(m);
    if (d) delays.push(Number(d[1]));
  });
  await until(() => delays.length >= 4, 'four respawns', 8000);
  assert.deepEqual(delays.slice(0, 4), [40, 80, 160, 160]);
});

test('cbpf backend (no privilege needed): sticky as a classic BPF program keeps each client on its worker', async (t) => {
  if (process.platform !== 'linux') return t.skip('SO_REUSEPORT groups need Linux');
  const g = new ReuseportGroup({ script: fixture('http_worker.mjs'), port: nextPort(), host: '127.0.0.1', workers: 3, backend: 'cbpf', policy: 'sticky', ...FAST });
  t.after(() => g.shutdown());
  // a worker attaches the classic program (for 3 sockets) once the last one has joined
  const attached = new Promise<void>((resolve) => g.on('program-attached', (a: { workers: number }) => a.workers === 3 && resolve()));
  await g.start();
  await attached;
  assert.equal(g.backendKind, 'cbpf');
  const seen = new Set<string>();
  for (let host = 2; host <= 13; host++) {
    const addr = `127.0.0.${host}`;
    const first = (await get(g.port, '/', false, addr)).worker;
    seen.add(first);
    for (let i = 0; i < 2; i++) assert.equal((await get(g.port, '/', false, addr)).worker, first, `${addr} moved`);
  }
  assert.ok(seen.size >= 2, `12 client addresses all on worker ${[...seen]}`);
});

test('cbpf backend: a policy that needs maps is refused with the alternatives', async () => {
  if (process.platform !== 'linux') return;
  const g = new ReuseportGroup({ script: fixture('http_worker.mjs'), port: nextPort(), host: '127.0.0.1', workers: 1, backend: 'cbpf', policy: 'round-robin', ...FAST });
  await assert.rejects(g.start(), (e: unknown) => e instanceof GroupError && e.code === 'EBACKEND' && /sticky/.test(e.hint ?? ''));
});
