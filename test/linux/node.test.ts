/**
 * Node 20 integration: SO_REUSEPORT sockets made through FFI and handed to net.Server /
 * dgram.Socket receive steered traffic; fdOf reads their fds without deprecation warnings; the
 * private network namespace holds FFI and Node sockets alike.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as C from '../../src/kernel/constants.js';
import { ERRNO, SysError } from '../../src/kernel/errno.js';
import { assertReuseport, createReuseportDgram, createReuseportServer, fdOf, inPrivateNetns } from '../../src/linux/index.js';
import { BpfProgram, ReuseportSockArray, attachReuseportProgram, selectSlotProgram } from '../../src/bpf/index.js';
import { freshNetns, requireKernel } from '../support/netns.js';

const errno = (code: keyof typeof ERRNO) => (e: unknown) => e instanceof SysError && e.errno === ERRNO[code];

test('the private network namespace holds both FFI and Node sockets', async (t) => {
  const k = requireKernel(t); if (!k) return;
  assert.equal(inPrivateNetns(), true);
  const old = k.socket(C.AF_INET, C.SOCK_STREAM);
  k.bind(old, '127.0.0.1', 0);
  const port = k.getsockname(old).port;
  k.listen(old);
  freshNetns(); // a second namespace: `old` stays behind in the first one
  const server = net.createServer().listen(port, '127.0.0.1');
  await once(server, 'listening'); // no EADDRINUSE: Node's socket is not in the old namespace
  const probe = k.socket(C.AF_INET, C.SOCK_STREAM);
  assert.throws(() => k.bind(probe, '127.0.0.1', port), errno('EADDRINUSE'), "FFI sockets share Node's namespace");
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  const u = k.socket(C.AF_INET, C.SOCK_DGRAM);
  assert.throws(() => k.bind(u, '127.0.0.1', udp.address().port), errno('EADDRINUSE'));
  k.close(u); k.close(probe); k.close(old);
  udp.close();
  server.close();
});

test('net.Server on FFI SO_REUSEPORT fds: connections steered to the chosen server; close empties its slot', async (t) => {
  const k = requireKernel(t); if (!k) return;
  const counts = [0, 0, 0];
  const servers = [0, 1, 2].map((i) => createReuseportServer(k, { host: '127.0.0.1', port: 0 }, (s) => { counts[i]!++; s.end(); }));
  // port 0 above gives three different ports: rebuild the group on the first one's port
  const port = k.getsockname(fdOf(servers[0]!)).port;
  servers[1]!.close(); servers[2]!.close();
  servers[1] = createReuseportServer(k, { host: '127.0.0.1', port }, (s) => { counts[1]!++; s.end(); });
  servers[2] = createReuseportServer(k, { host: '127.0.0.1', port }, (s) => { counts[2]!++; s.end(); });
  await Promise.all(servers.map((s) => (s.listening ? undefined : once(s, 'listening'))));
  const sa = ReuseportSockArray.create(k, { maxEntries: 1 });
  const prog = BpfProgram.load(k, { insns: selectSlotProgram(sa.fd, 0) });
  attachReuseportProgram(k, servers[0]!, prog);
  sa.set(0, servers[2]!);
  assert.equal(sa.cookie(0), new DataView(k.getsockopt(fdOf(servers[2]!), C.SOL_SOCKET, C.SO_COOKIE, 8).buffer).getBigUint64(0, true));
  for (let i = 0; i < 10; i++) {
    const c = net.connect(port, '127.0.0.1');
    await once(c, 'end');
    c.destroy();
  }
  assert.deepEqual(counts, [0, 0, 10]);
  servers[2]!.close();
  await once(servers[2]!, 'close');
  assert.equal(sa.cookie(0), undefined, 'the kernel emptied the slot when Node closed the socket');
  prog.close(); sa.close();
  servers[0]!.close(); servers[1]!.close();
});

test('dgram.Socket on FFI SO_REUSEPORT fds: datagrams steered; fdOf prints no DEP0112', async (t) => {
  const k = requireKernel(t); if (!k) return;
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  // bound on return: Node's bind({ fd }) emits 'listening' synchronously
  const first = createReuseportDgram(k, { host: '127.0.0.1', port: 0 });
  const port = first.address().port;
  const second = createReuseportDgram(k, { host: '127.0.0.1', port });
  assert.equal(second.address().port, port);
  const got = [0, 0];
  first.on('message', () => got[0]!++);
  const all = new Promise<void>((resolve) => second.on('message', () => { if (++got[1]! === 20) resolve(); }));
  const sa = ReuseportSockArray.create(k, { maxEntries: 1 });
  const prog = BpfProgram.load(k, { insns: selectSlotProgram(sa.fd, 0) });
  attachReuseportProgram(k, first, prog);
  sa.set(0, second);
  assert.deepEqual(k.getsockname(fdOf(second)), { address: '127.0.0.1', port });
  const client = dgram.createSocket('udp4');
  for (let i = 0; i < 20; i++) client.send(Buffer.from([i]), port, '127.0.0.1');
  await all;
  assert.deepEqual(got, [0, 20]);
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  assert.deepEqual(warnings.filter((w) => /DEP0112|_handle/.test(w)), []);
  client.close(); first.close(); second.close(); prog.close(); sa.close();
});

test('a Node socket without SO_REUSEPORT is refused with a clear error; fdOf rejects unbound sockets', async (t) => {
  const k = requireKernel(t); if (!k) return;
  const plain = net.createServer().listen(0, '127.0.0.1');
  await once(plain, 'listening');
  assert.throws(() => assertReuseport(k, plain), /does not have SO_REUSEPORT set/);
  const sa = ReuseportSockArray.create(k, { maxEntries: 1 });
  assert.throws(() => sa.set(0, plain), (e: unknown) => errno('EINVAL')(e) && /SO_REUSEPORT/.test((e as Error).message));
  assert.throws(() => fdOf(net.createServer()), /must be listening/);
  assert.throws(() => fdOf(dgram.createSocket('udp4')), /bound/);
  assert.throws(() => fdOf('3' as never), TypeError);
  sa.close();
  plain.close();
});
