/**
 * Without privileges: a child process that drops to uid/gid 65534 (nobody) gets EPERM from
 * BPF_MAP_CREATE / BPF_PROG_LOAD, and LinuxKernel.probe() explains why instead of throwing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { requireKernel } from '../support/netns.js';

const linuxIndex = new URL('../../src/linux/index.js', import.meta.url).href;

const child = `
import { LinuxKernel } from ${JSON.stringify(linuxIndex)};
const k = new LinuxKernel();            // bind libc while still root
process.setgroups([]); process.setgid(65534); process.setuid(65534);
const out = { uid: process.getuid(), probe: LinuxKernel.probe() };
try { k.mapCreate({ mapType: 20, keySize: 4, valueSize: 8, maxEntries: 1 }); out.map = 'created'; } catch (e) { out.map = e.code; }
try { k.progLoad({ progType: 21, insns: new Uint8Array([0xb7,0,0,0,1,0,0,0, 0x95,0,0,0,0,0,0,0]) }); out.prog = 'loaded'; } catch (e) { out.prog = e.code; }
try { k.sysctl('net.ipv4.tcp_migrate_req', '1'); out.sysctl = 'written'; } catch (e) { out.sysctl = e.code; }
const s = k.socket(2, 2); k.bind(s, '127.0.0.1', 0); out.socket = 'ok';
console.log(JSON.stringify(out));
`;

test('uid 65534: map create and prog load are EPERM; probe says no CAP_BPF; sockets still work', (t) => {
  if (!requireKernel(t)) return;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(out.uid, 65534);
  assert.equal(out.map, 'EPERM');
  assert.equal(out.prog, 'EPERM');
  assert.equal(out.probe.ok, false);
  assert.match(out.probe.reason, /EPERM.*CAP_BPF/);
  assert.equal(out.sysctl, 'EACCES', "the child shares the test's private namespace, but /proc/sys is root's");
  assert.equal(out.socket, 'ok');
});
