/**
 * TCP listener migration (5.14+, net/core/sock_reuseport.c reuseport_stop_listen_sock /
 * reuseport_migrate_sock, net/ipv4/inet_connection_sock.c inet_csk_listen_stop /
 * reqsk_timer_handler / inet_csk_complete_hashdance): children and requests of a closing
 * listener move to another listener of the group, chosen by a SELECT_OR_MIGRATE program or the hash.
 */
import type { InetStack } from './af_inet.js';
import { Sock, TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN, TCP_SYN_RECV } from './socket.js';

/**
 * tcp_disconnect()/tcp_close() of a listener: unhash; with migration enabled (tcp_migrate_req or a
 * SELECT_OR_MIGRATE program) move to the group's closed section (reuseport_stop_listen_sock),
 * then inet_csk_listen_stop(): migrate or reset each child of the accept queue.
 */
export function inetCskListenStop(net: InetStack, sk: Sock): void {
  const reuse = sk.reuseCb;
  net.ports.unhash(sk);
  sk.state = TCP_CLOSE;
  if (reuse) {
    const prog = reuse.prog;
    const migrate = net.sysctl.tcpMigrateReq === 1 || (prog?.kind === 'ebpf' && prog.prog.expectedAttachType === 40);
    if (migrate) {
      // reuseport_stop_listen_sock(): move to the closed section, leave the sockarray
      sk.userData?.map.clearSlotOf(sk);
      reuse.detachListening(sk);
      reuse.closed.push(sk);
    } else {
      net.detachFromGroup(sk);
    }
  }
  // inet_csk_listen_stop(): migrate or reset each child, then each pending request
  const queue = sk.acceptQueue;
  sk.acceptQueue = [];
  for (const child of queue) {
    const nsk = reuse && sk.reuseCb === reuse && reuse.closed.includes(sk) ? net.hooks.migrate(sk, child, true) : null;
    if (nsk && nsk.state === TCP_LISTEN) {
      nsk.acceptQueue.push(child);
      child.parent = nsk;
      net.stats.migrateReqSuccess++;
      // inet_csk_reqsk_queue_add() wakes nobody; 3864c6ba1e04 added nsk->sk_data_ready(nsk) here
      if (net.migrationWakeup) nsk.wakeupPending = true;
      continue;
    }
    if (nsk) net.stats.migrateReqFailure++;
    net.abortChild(child);
  }
  for (const sk2 of net.sockmaps) sk2.removeSock(sk);
  if (!sk.bindPortLocked) net.ports.removeOwner(sk);
}

/** The final ACKs held back by holdAcks arrive now (tcp_v4_rcv NEW_SYN_RECV path). */
export function releaseHeldAcks(net: InetStack): void {
  const held = net.heldAcks;
  net.heldAcks = [];
  for (const req of held) {
    const child = req.client.peer;
    if (child) {
      // a TFO child (possibly migrated meanwhile) completes its handshake
      if (child.state === TCP_SYN_RECV) child.state = TCP_ESTABLISHED;
      continue;
    }
    const i = req.listener.requests.indexOf(req);
    if (i < 0) continue; // already migrated by a timer or dropped
    req.listener.requests.splice(i, 1);
    let listener: Sock | null = req.listener;
    if (listener.state !== TCP_LISTEN) {
      // inet_csk_complete_hashdance(): migrate the request to another listener
      listener = net.hooks.migrate(req.listener, req, false);
      if (listener) net.stats.migrateReqSuccess++;
    }
    if (!listener) {
      net.resetClient(req.client);
      continue;
    }
    net.makeChild(listener, req.client, req);
  }
}

/** SYN+ACK retransmit timers fire (reqsk_timer_handler): requests of closed listeners migrate. */
export function expireSynAckTimers(net: InetStack): void {
  for (const req of [...net.heldAcks]) {
    if (req.listener.state === TCP_LISTEN) continue;
    const i = req.listener.requests.indexOf(req);
    if (i < 0) continue;
    const nsk = net.hooks.migrate(req.listener, req, true);
    req.listener.requests.splice(i, 1);
    if (!nsk) {
      net.heldAcks.splice(net.heldAcks.indexOf(req), 1);
      net.resetClient(req.client);
      continue;
    }
    net.stats.migrateReqSuccess++;
    req.listener = nsk;
    nsk.requests.push(req);
  }
}
