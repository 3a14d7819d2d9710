/** Which listen()/bind() calls the worker intercepts: every form net and dgram accept. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBindArgs, parseListenArgs } from '../../src/group/listen_args.js';

const cb = (): void => {};

test('listen(port[, host][, backlog][, cb]) and listen({ port, host, backlog }, cb) are decoded', () => {
  assert.deepEqual(parseListenArgs([8080]), { port: 8080, host: undefined, backlog: undefined, callback: undefined });
  assert.deepEqual(parseListenArgs(['8080', '::', 100, cb]), { port: 8080, host: '::', backlog: 100, callback: cb });
  assert.deepEqual(parseListenArgs([8080, 64, cb]), { port: 8080, host: undefined, backlog: 64, callback: cb });
  assert.deepEqual(parseListenArgs([{ port: 8080, host: '127.0.0.1', backlog: 5 }, cb]), { port: 8080, host: '127.0.0.1', backlog: 5, callback: cb });
});

test('pipes, fds, handles and calls without a port pass through (undefined)', () => {
  assert.equal(parseListenArgs(['/tmp/app.sock']), undefined);
  assert.equal(parseListenArgs([{ path: '/tmp/app.sock' }]), undefined);
  assert.equal(parseListenArgs([{ fd: 3 }]), undefined);
  assert.equal(parseListenArgs([{ handle: {} }]), undefined);
  assert.equal(parseListenArgs([cb]), undefined);
  assert.equal(parseListenArgs([70000]), undefined);
});

test('bind(port[, address][, cb]) and bind({ port, address }, cb) are decoded; bind({ fd }) passes through', () => {
  assert.deepEqual(parseBindArgs([5353, '::', cb]), { port: 5353, host: '::', backlog: undefined, callback: cb });
  assert.deepEqual(parseBindArgs([{ port: 5353, address: '0.0.0.0' }]), { port: 5353, host: '0.0.0.0', backlog: undefined, callback: undefined });
  assert.equal(parseBindArgs([{ fd: 7 }]), undefined);
  assert.equal(parseBindArgs([]), undefined);
});
