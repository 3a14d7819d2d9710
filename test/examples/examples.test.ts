/**
 * Every example in examples/ runs: the programmatic ones as their own process (importing the
 * built package by name, as a user would), the worker scripts under a group on each backend.
 */
import { test as nodeTest, type TestContext } from 'node:test';

/** Every scenario is bounded: a hang fails the test instead of stalling the run. */
const test = (name: string, fn: (t: TestContext) => void | Promise<void>): Promise<void> => nodeTest(name, { timeout: 60_000 }, fn);
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import dgram from 'node:dgram';
import { BACKENDS, backendAvailable, counts, example, nextPort, startGroup } from '../group/support.js';

const run = promisify(execFile);

for (const backend of BACKENDS) {
  test(`examples/programmatic.mjs: start, rolling restart, policy change, shutdown [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const { stdout } = await run(process.execPath, [example('programmatic.mjs')], {
      env: { ...process.env, PORT: String(nextPort()), REUSEPORT_BACKEND: backend },
      timeout: 30_000,
    });
    assert.match(stdout, new RegExp(`^backend ${backend}:`, 'm'));
    assert.match(stdout, /^round-robin: \{"1":3,"2":3,"3":3\}$/m);
    assert.match(stdout, /^after rolling restart: \{"4":3,"5":3,"6":3\}$/m);
    assert.match(stdout, /^policy round-robin -> least-loaded$/m);
    assert.match(stdout, /^stopped$/m);
  });

  test(`examples/custom-policy.mjs: a user program steers by source-port parity [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const { stdout } = await run(process.execPath, [example('custom-policy.mjs')], {
      env: { ...process.env, PORT: String(nextPort()), REUSEPORT_BACKEND: backend },
      timeout: 30_000,
    });
    assert.match(stdout, new RegExp(`backend ${backend}, policy port-parity`));
    const lines = stdout.split('\n').filter((l) => l.startsWith('from '));
    assert.equal(lines.length, 4);
    for (const l of lines) assert.match(l, /^from (even port \d*[02468]: worker 1|odd port \d*[13579]: worker 2)$/);
  });

  test(`examples/hello-http.js serves under a group [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const g = await startGroup(t, { script: example('hello-http.js'), workers: 2, backend });
    assert.deepEqual(Object.values(await counts(g.port, 6)), [3, 3]);
  });

  test(`examples/udp-echo.js serves under a UDP group [${backend}]`, async (t) => {
    if (!backendAvailable(t, backend)) return;
    const g = await startGroup(t, { script: example('udp-echo.js'), workers: 2, backend, proto: 'udp', host: '::' });
    const c = dgram.createSocket('udp4');
    t.after(() => c.close());
    await new Promise<void>((r) => c.bind(0, '127.0.0.1', () => r()));
    const reply = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no reply')), 2000);
      c.once('message', (m) => { clearTimeout(timer); resolve(String(m)); });
      c.send('ping', g.port, '127.0.0.1');
    });
    assert.match(reply, /^[12]:ping$/);
  });
}

test('examples/unit-test-policy.mjs: testRun shows verdict, selected socket and helper calls (no root needed)', async () => {
  const { stdout } = await run(process.execPath, [example('unit-test-policy.mjs')], { timeout: 30_000 });
  assert.deepEqual(stdout.trim().split('\n'), [
    'payload[0]=2: verdict 1, socket index 2; bpf_sk_select_reuseport() = 0; 17 insns',
    'payload[0]=0: verdict 1, socket index 0; bpf_sk_select_reuseport() = 0; 17 insns',
    // slot 7 is past max_entries: the helper returns -ENOENT and the program drops
    'payload[0]=7: verdict 0, dropped; bpf_sk_select_reuseport() = -2; 17 insns',
  ]);
});
