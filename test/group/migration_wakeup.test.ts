/**
 * Migrated connections without a wakeup (issue 5). On kernels 5.14 up to upstream 3864c6ba1e04
 * the children SELECT_OR_MIGRATE moves into a listener's queue raise no epoll wakeup, so Node only
 * accepts them when another connection arrives. The worker runtime's migration sweep accepts them
 * itself. Scenario 1 reproduces "queued, and libuv was not told" exactly: connections queued on a
 * listening socket that libuv does not watch at all; the sweep must serve every one of them.
 * Scenarios 3-4: a group at low load (one request at a time) loses nothing when workers go.
 */
import { test as nodeTest, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { AF_INET, SOCK_STREAM, SOL_TCP, TCP_INFO, type Kernel } from '../../src/kernel/index.js';
import { acceptPending, createReuseportSocket } from '../../src/linux/index.js';
import { MigrationSweep } from '../../src/group/migration_sweep.js';
import { requireKernel } from '../support/netns.js';
import { fixture, get, httpLoad, sleep, startGroup, until, type Reply } from './support.js';

const test = (name: string, fn: (t: TestContext) => void | Promise<void>): Promise<void> => nodeTest(name, { timeout: 60_000 }, fn);

/** A listener's accept-queue length: tcpi_unacked of TCP_INFO (sk_ack_backlog for a listener). */
function queued(kernel: Kernel, fd: number): number {
  const info = kernel.getsockopt(fd, SOL_TCP, TCP_INFO, 104);
  return new DataView(info.buffer, info.byteOffset, info.byteLength).getUint32(24, true);
}

/** utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

test('migration sweep: connections queued on a listener libuv does not watch are accepted and served', async (t) => {
  const kernel = requireKernel(t);
  if (!kernel) return;
  // The listener exists only in the kernel: no Node handle, no epoll registration, no wakeup.
  const fd = createReuseportSocket(kernel, SOCK_STREAM, { host: '127.0.0.1', port: 0 });
  t.after(() => kernel.close(fd));
  const port = kernel.getsockname(fd).port;
  const N = 5;
  let connections = 0;
  let requests = 0;
  const held: http.ServerResponse[] = [];
  let allArrived!: () => void;
  const arrived = new Promise<void>((r) => (allArrived = r));
  // Responses are held until all N requests are in, so the server's own count can be checked.
  const server = http.createServer((_req, res) => {
    requests++;
    held.push(res);
    if (held.length === N) allArrived();
  });
  server.on('connection', () => connections++);
  // The server listens elsewhere (its own libuv listener); the sweep feeds it from `fd`.
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const libuvPort = (server.address() as AddressInfo).port;
  assert.notEqual(libuvPort, port);

  const connected: Promise<void>[] = [];
  const replies = Array.from({ length: N }, () => new Promise<Reply>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, worker: '', body }));
    });
    req.on('error', reject);
    connected.push(new Promise<void>((r) => req.on('socket', (s) => s.once('connect', () => r()))));
  }));
  await Promise.all(connected);
  await until(() => queued(kernel, fd) === N, `${N} connections in the accept queue`);
  assert.equal(connections, 0, 'nothing was accepted before the sweep');

  const sweep = new MigrationSweep(() => [{ server, fd }], (f) => acceptPending(f), 10);
  sweep.run(1000);
  await arrived;
  assert.equal(connections, N);
  assert.equal(requests, N);
  assert.equal(sweep.delivered, N);
  assert.equal(queued(kernel, fd), 0);
  // The server counts them as its own (server.close() would wait for them), as libuv's would be.
  const open = await new Promise<number>((r, j) => server.getConnections((e, n) => (e ? j(e) : r(n))));
  assert.equal(open, N);
  for (const res of held) res.end('swept');
  const got = await Promise.all(replies);
  assert.deepEqual(got.map((r) => [r.status, r.body]), Array.from({ length: N }, () => [200, 'swept']));
  // Bounded: the sweep ends by itself.
  await until(() => !sweep.running, 'the sweep to end');
  assert.equal(sweep.delivered, N);
});

test('acceptPending: empty queue, non-listening socket and bad input', (t) => {
  const kernel = requireKernel(t);
  if (!kernel) return;
  const fd = createReuseportSocket(kernel, SOCK_STREAM, { host: '127.0.0.1', port: 0 });
  try {
    assert.deepEqual(acceptPending(fd, 64, kernel), []); // queue empty: EAGAIN, no fd
  } finally {
    kernel.close(fd);
  }
  const plain = kernel.socket(AF_INET, SOCK_STREAM, 0); // not listening: EINVAL, nothing to accept
  try {
    assert.deepEqual(acceptPending(plain, 64, kernel), []);
  } finally {
    kernel.close(plain);
  }
  assert.throws(() => acceptPending(-1), TypeError);
  assert.throws(() => acceptPending(1.5), TypeError);
  assert.throws(() => acceptPending(3, 0), TypeError);
});

test('rolling restart at low load (one request at a time, with pauses): 0 failures [kernel]', async (t) => {
  if (!requireKernel(t)) return;
  // drainGraceMs 0: each old listener closes at once; whatever it had queued is migrated.
  const g = await startGroup(t, { script: fixture('http_worker.mjs'), workers: 2, backend: 'kernel', drainGraceMs: 0 });
  const before = g.workers().map((w) => w.id);
  const load = httpLoad(g.port, 1, 15); // one request at a time: low load
  await g.rollingRestart();
  await sleep(100);
  const { ok, failures } = await load.stop();
  assert.deepEqual(failures, []);
  assert.ok(ok > 0);
  const after = g.workers().map((w) => w.id);
  assert.equal(after.length, 2);
  assert.ok(after.every((id) => !before.includes(id)));
});

test('a lone request queued on a worker that dies is served by another worker, with no later traffic [kernel]', async (t) => {
  if (!requireKernel(t)) return;
  const g = await startGroup(t, {
    script: fixture('http_worker.mjs'), workers: 2, backend: 'kernel', policy: 'round-robin',
    heartbeatIntervalMs: 100, heartbeatTimeoutMs: 400, drainTimeoutMs: 300,
  });
  // Worker A's event loop stops (its listener stays open): what the program steers to A queues.
  const a = (await get(g.port, '/hang')).worker;
  // A starts spinning 5 ms after answering; once it has burnt 100 ms of CPU it accepts nothing more.
  const pidA = g.workers().find((w) => String(w.id) === a)!.pid!;
  const cpu0 = cpuTicks(pidA);
  await until(() => cpuTicks(pidA) >= cpu0 + 10, 'worker A to spin');
  const b = (await get(g.port)).worker;
  assert.notEqual(a, b);
  // Round-robin: this one goes to A and waits in A's accept queue. It is the only traffic: no
  // later connection will come to wake another worker's accept loop.
  const lone = get(g.port);
  const downs: string[] = [];
  g.on('worker-down', (w: { id: number }, info: { reason: string }) => downs.push(`${w.id}:${info.reason}`));
  // Heartbeat: A is replaced, then killed; its listener closes and the kernel migrates the request.
  const r = await lone;
  assert.equal(r.status, 200);
  assert.notEqual(r.worker, a);
  await until(() => downs.length > 0, 'worker A to go');
  assert.ok(downs[0]!.startsWith(`${a}:`));
});
