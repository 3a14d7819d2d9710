/**
 * The `reuseport` command: usage errors, bad input with a fix and a non-zero exit, `serve` as a
 * real process (JSON-lines logs, SIGHUP rolling restart, SIGTERM graceful exit 0) and `demo`.
 */
import { test as nodeTest, type TestContext } from 'node:test';

/** Every scenario is bounded: a hang fails the test instead of stalling the run. */
const test = (name: string, fn: (t: TestContext) => void | Promise<void>): Promise<void> => nodeTest(name, { timeout: 60_000 }, fn);
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { EventEmitter } from 'node:events';
import { main } from '../../src/cli/main.js';
import { alive, backendAvailable, BACKENDS, counts, fixture, nextPort, portFree, sleep } from '../group/support.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

function capture(): { io: Parameters<typeof main>[1] & object; out: () => string; err: () => string } {
  let o = '';
  let e = '';
  return {
    io: { out: { write: (s: string) => void (o += s), isTTY: false }, err: { write: (s: string) => void (e += s), isTTY: false }, signals: new EventEmitter() },
    out: () => o,
    err: () => e,
  };
}

test('usage: no command, unknown command, missing --port, bad numbers exit 2 with the usage', async () => {
  for (const argv of [[], ['launch'], ['serve', fixture('http_worker.mjs')], ['serve', fixture('http_worker.mjs'), '--port', 'eighty'], ['serve', '--port', '8080'], ['serve', 'x.js', '--port', '1', '--bogus']]) {
    const c = capture();
    const code = await main(argv, c.io);
    assert.equal(code, 2, `argv ${argv.join(' ')}`);
    assert.match(c.out() + c.err(), /Usage:/);
  }
});

test('policies lists every built-in policy', async () => {
  const c = capture();
  assert.equal(await main(['policies'], c.io), 0);
  for (const name of ['round-robin', 'hash', 'weighted', 'sticky', 'least-loaded']) assert.match(c.out(), new RegExp(`^${name} `, 'm'));
});

test('bad input: unknown policy and unknown backend exit 1 with how to fix it', async () => {
  const c = capture();
  assert.equal(await main(['serve', fixture('http_worker.mjs'), '--port', String(nextPort()), '--policy', 'fastest'], c.io), 1);
  assert.match(c.err(), /unknown policy 'fastest'/);
  assert.match(c.err(), /fix: use one of: round-robin/);
  const d = capture();
  assert.equal(await main(['serve', fixture('http_worker.mjs'), '--port', '8080', '--backend', 'magic'], d.io), 2);
  assert.match(d.err(), /--backend must be/);
});

for (const backend of BACKENDS) {
  test(`bad input: a worker throwing on start exits 1 with its error and leaves nothing behind [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const port = nextPort();
    const c = capture();
    assert.equal(await main(['serve', fixture('throws.mjs'), '--port', String(port), '--host', '127.0.0.1', '--workers', '2', '--backend', backend], c.io), 1);
    assert.match(c.err(), /DATABASE_URL is not set/);
    assert.match(c.err(), /fix:/);
    assert.equal(await portFree(port), true);
  });

  test(`serve: JSON logs, SIGHUP rolls the workers, SIGTERM exits 0 [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const port = nextPort();
    const child = spawn(process.execPath, [CLI, 'serve', fixture('http_worker.mjs'), '--port', String(port), '--host', '127.0.0.1', '--workers', '2', '--backend', backend], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => child.kill('SIGKILL'));
    const events: Record<string, unknown>[] = [];
    const waiters: Array<[string, () => void]> = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const ev = JSON.parse(line) as { event: string };
      events.push(ev);
      for (const [name, fire] of waiters) if (name === ev.event) fire();
    });
    let exited: number | null | undefined;
    child.once('exit', (code) => (exited = code));
    const next = (name: string): Promise<void> => new Promise((r, reject) => {
      if (events.some((e) => e.event === name)) return r();
      if (exited !== undefined) return reject(new Error(`serve exited (${exited}) before '${name}'`));
      waiters.push([name, r]);
      child.once('exit', (code) => reject(new Error(`serve exited (${code}) before '${name}'`)));
    });
    await next('ready');
    const ready = events.find((e) => e.event === 'ready')!;
    assert.equal(ready.backend, backend);
    assert.equal(ready.policy, 'round-robin');
    assert.deepEqual(Object.values(await counts(port, 4)), [2, 2]);
    const upsBefore = events.filter((e) => e.event === 'worker-up').map((e) => e.pid as number);
    child.kill('SIGHUP');
    await next('restart-complete');
    const after = await counts(port, 4);
    assert.equal(Object.keys(after).length, 2);
    assert.ok(Object.keys(after).every((id) => Number(id) > 2), `old workers still answer: ${Object.keys(after)}`);
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exit, 0);
    assert.ok(events.some((e) => e.event === 'shutdown-complete'));
    await sleep(20);
    assert.ok(upsBefore.every((p) => !alive(p)));
    assert.equal(await portFree(port), true);
  });
}

test('demo: traffic through a rolling restart with zero failed requests (emulated, no root needed)', async () => {
  const c = capture();
  const code = await main(['demo', '--workers', '2', '--requests', '400', '--concurrency', '8', '--backend', 'emulated'], c.io);
  assert.equal(code, 0, c.out() + c.err());
  assert.match(c.out(), /backend: emulated/);
  const ok = Number(/(\d+) ok, 0 failed/.exec(c.out())?.[1]);
  assert.ok(ok >= 400, c.out());
  // traffic reached both generations: the old workers before, the new ones after the restart
  for (const w of [1, 2, 3, 4]) assert.match(c.out(), new RegExp(`worker +${w} █`));
  assert.match(c.out(), /rolling restart complete: 2 workers replaced/);
});

/** Run the CLI as an unprivileged user: `nobody` when we are root, else ourselves. */
function runUnprivileged(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; out: string; err: string }> {
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...asNobody, timeout: timeoutMs });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

test('unprivileged: `reuseport demo` picks the emulated backend by itself and loses nothing', async () => {
  const r = await runUnprivileged(['demo', '--workers', '2', '--requests', '300', '--concurrency', '6']);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /backend: emulated \(no bpf\(\)/);
  assert.ok(Number(/(\d+) ok, 0 failed/.exec(r.out)?.[1]) >= 300, r.out);
  assert.match(r.out, /worker +4 █/);
});

test('unprivileged: --backend kernel and --user are refused with the fix, exit 1', async () => {
  const k = await runUnprivileged(['serve', fixture('http_worker.mjs'), '--port', String(nextPort()), '--backend', 'kernel']);
  assert.equal(k.code, 1);
  assert.match(k.err, /kernel backend cannot run here/);
  assert.match(k.err, /fix: run as root/);
  const u = await runUnprivileged(['serve', fixture('http_worker.mjs'), '--port', String(nextPort()), '--user', 'root']);
  assert.equal(u.code, 1);
  assert.match(u.err, /needs a root primary/);
});
