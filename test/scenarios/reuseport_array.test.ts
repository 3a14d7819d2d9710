/**
 * Table 1 — tools/testing/selftests/bpf/test_maps.c test_reuseport_array() (kernel-semantics.md
 * §6.1, steps 1–21 with prepare_reuseport_grp P1–P4 for both sotypes) and the "additional cases
 * implied by code" list, on both kernels.
 */
import assert from 'node:assert/strict';
import {
  AF_INET, AF_INET6, AF_UNIX, BPF_ANY, BPF_EXIST, BPF_F_INNER_MAP, BPF_F_MMAPABLE, BPF_F_NO_PREALLOC, BPF_F_RDONLY, BPF_F_WRONLY,
  BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, BPF_NOEXIST, IPPROTO_UDP, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM, SOL_SOCKET,
  SO_COOKIE, SO_REUSEPORT,
} from '../../src/kernel/index.js';
import { readU64, scenarioTable, u32, u64, type Scenario, type ScenarioCtx } from '../support/scenario_runner.js';
import { KNOWN_DIFFERENCES } from './known_differences.js';

const TABLE = 'test_maps reuseport_array';
const ARRAY_SIZE = 4, INDEX3 = 3, BAD_INDEX = 4;

const sa4 = (c: ScenarioCtx, valueSize: number, maxEntries = ARRAY_SIZE): number =>
  c.own(c.ok(`map_create(sockarray, value ${valueSize})`, () =>
    c.k.mapCreate({ mapType: BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize, maxEntries })));

const fdValue = (fd: number, valueSize: number): Uint8Array => (valueSize === 8 ? u64(fd) : u32(fd));
const cookieOf = (c: ScenarioCtx, fd: number): bigint => readU64(c.k.getsockopt(fd, SOL_SOCKET, SO_COOKIE, 8));
const sotypeName = (t: number): string => (t === SOCK_STREAM ? 'TCP' : 'UDP');

/** prepare_reuseport_grp(type, map, size, fds, cookies, n): P1–P4. */
function prepareReuseportGrp(c: ScenarioCtx, type: number, map: number, valueSize: number, n: number): { fds: number[]; cookies: bigint[] } {
  const { k } = c;
  const fds: number[] = [], cookies: bigint[] = [];
  let port = 0;
  for (let i = 0; i < n; i++) {
    const fd = c.own(k.socket(AF_INET6, type, 0));
    k.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    // P1: an unbound socket is not in a group (sk_hashed false, no reuseport_cb)
    c.fails(`P1 ${sotypeName(type)} U(map,0,unbound sk${i},ANY)`, 'EINVAL', () => k.mapUpdateElem(map, u32(0), fdValue(fd, valueSize), BPF_ANY));
    // P2: bind [::]:port — the second socket joins the first's group
    c.ok(`P2 bind sk${i}`, () => k.bind(fd, '::', port));
    if (i === 0) port = k.getsockname(fd).port;
    // P3
    cookies.push(cookieOf(c, fd));
    // P4: TCP bound but not listening → EINVAL, then listen
    if (type === SOCK_STREAM) {
      c.fails(`P4 U(map,0,bound-not-listening sk${i},ANY)`, 'EINVAL', () => k.mapUpdateElem(map, u32(0), fdValue(fd, valueSize), BPF_ANY));
      c.ok(`P4 listen sk${i}`, () => k.listen(fd, 0));
    }
    fds.push(fd);
  }
  return { fds, cookies };
}

const scenarios: Scenario[] = [];

scenarios.push({
  name: 'test_reuseport_array steps 1-5 (empty map)',
  run(c) {
    const { k } = c;
    const A = sa4(c, 8);
    c.fails('1 D(A,4)', 'E2BIG', () => k.mapDeleteElem(A, u32(BAD_INDEX)));
    c.fails('2 U(A,4,-1,ANY)', 'E2BIG', () => k.mapUpdateElem(A, u32(BAD_INDEX), u64(-1n), BPF_ANY));
    c.fails('3 L(A,4)', 'ENOENT', () => k.mapLookupElem(A, u32(BAD_INDEX)));
    c.fails('4 L(A,3) empty', 'ENOENT', () => k.mapLookupElem(A, u32(INDEX3)));
    c.fails('5 D(A,3) empty', 'ENOENT', () => k.mapDeleteElem(A, u32(INDEX3)));
  },
});

for (const type of [SOCK_STREAM, SOCK_DGRAM]) {
  scenarios.push({
    name: `test_reuseport_array ${sotypeName(type)} steps P1-P4, 6-16`,
    run(c) {
      const { k } = c;
      const A = sa4(c, 8);
      const { fds, cookies } = prepareReuseportGrp(c, type, A, 8, 2);
      let idx = 0;
      const step = (label: string, flags: number, expect: 'ok' | 'ENOENT' | 'EEXIST'): void => {
        const got = c.attempt(() => k.mapUpdateElem(A, u32(INDEX3), u64(fds[idx]!), flags));
        c.note(`${label} (sk${idx}): ${got}`);
        assert.equal(got, expect, `${label}: expected ${expect}, got ${got}`);
        idx = got === 'ok' ? 1 - idx : idx; // idx = err ? idx : !idx
      };
      step('6 U(A,3,fds[idx],EXIST) empty slot', BPF_EXIST, 'ENOENT');
      step('7 U(A,3,fds[idx],NOEXIST)', BPF_NOEXIST, 'ok');
      step('8 U(A,3,fds[idx],EXIST) replace', BPF_EXIST, 'ok');
      step('9 U(A,3,fds[idx],NOEXIST) occupied', BPF_NOEXIST, 'EEXIST');
      assert.equal(idx, 0);
      c.ok('10 U(A,3,fds[0],ANY)', () => k.mapUpdateElem(A, u32(INDEX3), u64(fds[0]!), BPF_ANY));
      const fd64 = fds[0]!, cookie = cookies[0]!;
      c.fails('11 U(A,3,same sk,ANY)', 'EBUSY', () => k.mapUpdateElem(A, u32(INDEX3), u64(fd64), BPF_ANY));
      c.fails('12 U(A,0,same sk,ANY)', 'EBUSY', () => k.mapUpdateElem(A, u32(0), u64(fd64), BPF_ANY));
      c.ok('13 D(A,3)', () => k.mapDeleteElem(A, u32(INDEX3)));
      c.ok('14 U(A,3,fd64,NOEXIST)', () => k.mapUpdateElem(A, u32(INDEX3), u64(fd64), BPF_NOEXIST));
      const v = c.ok('15 L(A,3)', () => k.mapLookupElem(A, u32(INDEX3)));
      assert.equal(v.length, 8);
      assert.equal(readU64(v), cookie, '15: lookup returns the SO_COOKIE of fd64');
      c.note(`15 value == SO_COOKIE: ${readU64(v) === cookie}`);
      for (const fd of fds) c.close(fd);
      c.fails('16 close both; L(A,3)', 'ENOENT', () => k.mapLookupElem(A, u32(INDEX3)));
    },
  });
}

scenarios.push({
  name: 'test_reuseport_array steps 17-21 (SOCK_RAW, value_size 4)',
  run(c) {
    const { k } = c;
    const A = sa4(c, 8);
    const raw = c.own(c.ok('17 socket(AF_INET6, SOCK_RAW, IPPROTO_UDP)', () => k.socket(AF_INET6, SOCK_RAW, IPPROTO_UDP)));
    c.fails('17 U(A,3,raw,NOEXIST)', 'ENOTSUPP', () => k.mapUpdateElem(A, u32(INDEX3), u64(raw), BPF_NOEXIST));
    c.close(A);
    const B = sa4(c, 4);
    const { fds } = prepareReuseportGrp(c, SOCK_STREAM, B, 4, 1);
    c.ok('20 U(B,3,(int)fd,NOEXIST)', () => k.mapUpdateElem(B, u32(INDEX3), u32(fds[0]!), BPF_NOEXIST));
    c.fails('21 L(B,3)', 'ENOSPC', () => k.mapLookupElem(B, u32(INDEX3)));
  },
});

// ---- additional cases implied by code (kernel-semantics.md §6.1 last paragraph) ----
const create = (c: ScenarioCtx, attr: { keySize?: number; valueSize?: number; maxEntries?: number; mapFlags?: number }): number =>
  c.k.mapCreate({ mapType: BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, keySize: 4, valueSize: 8, maxEntries: 4, ...attr });

for (const valueSize of [0, 1, 2, 3, 5, 6, 7, 9, 16]) {
  scenarios.push({
    name: `implied create value_size ${valueSize} → EINVAL`,
    run: (c) => c.fails(`create(value_size ${valueSize})`, 'EINVAL', () => c.own(create(c, { valueSize }))),
  });
}
for (const keySize of [0, 1, 2, 8]) {
  scenarios.push({
    name: `implied create key_size ${keySize} → EINVAL`,
    run: (c) => c.fails(`create(key_size ${keySize})`, 'EINVAL', () => c.own(create(c, { keySize }))),
  });
}
scenarios.push({ name: 'implied create max_entries 0 → EINVAL', run: (c) => c.fails('create(max_entries 0)', 'EINVAL', () => c.own(create(c, { maxEntries: 0 }))) });
for (const [flag, name] of [[BPF_F_NO_PREALLOC, 'NO_PREALLOC'], [BPF_F_MMAPABLE, 'MMAPABLE'], [BPF_F_INNER_MAP, 'INNER_MAP']] as const) {
  scenarios.push({
    name: `implied create flags ${name} → EINVAL`,
    run: (c) => c.fails(`create(flags ${name})`, 'EINVAL', () => c.own(create(c, { mapFlags: flag }))),
  });
}

/** A listening TCP reuseport socket on [::1]:0. */
function listener(c: ScenarioCtx): number {
  const fd = c.own(c.k.socket(AF_INET6, SOCK_STREAM, 0));
  c.k.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  c.k.bind(fd, '::1', 0);
  c.k.listen(fd, 1);
  return fd;
}

for (const flags of [3, 4]) {
  scenarios.push({
    name: `implied update flags ${flags} → EINVAL`,
    run(c) {
      const A = sa4(c, 8);
      const s = listener(c);
      c.fails(`U(A,0,listener,${flags})`, 'EINVAL', () => c.k.mapUpdateElem(A, u32(0), u64(s), flags));
    },
  });
}
scenarios.push({
  name: 'implied update u64 fd > 0x7fffffff → EINVAL',
  run(c) {
    const A = sa4(c, 8);
    c.fails('U(A,0,0x80000000,ANY)', 'EINVAL', () => c.k.mapUpdateElem(A, u32(0), u64(0x80000000), BPF_ANY));
    c.fails('U(A,0,u64 -1,ANY)', 'EINVAL', () => c.k.mapUpdateElem(A, u32(0), u64(-1n), BPF_ANY));
  },
});
scenarios.push({
  name: 'implied update non-socket fd → ENOTSOCK',
  run(c) {
    const A = sa4(c, 8);
    const other = sa4(c, 8); // a map fd is an open fd that is not a socket
    c.fails('U(A,0,map fd,ANY)', 'ENOTSOCK', () => c.k.mapUpdateElem(A, u32(0), u64(other), BPF_ANY));
  },
});
scenarios.push({
  name: 'implied update closed fd → EBADF',
  run(c) {
    const A = sa4(c, 8);
    const s = listener(c);
    c.close(s);
    c.fails('U(A,0,closed fd,ANY)', 'EBADF', () => c.k.mapUpdateElem(A, u32(0), u64(s), BPF_ANY));
    const B = sa4(c, 4);
    c.fails('U(B,0,(int)-1,ANY)', 'EBADF', () => c.k.mapUpdateElem(B, u32(0), u32(0xffffffff), BPF_ANY));
  },
});
scenarios.push({
  name: 'implied update AF_UNIX socket → ENOTSUPP',
  run(c) {
    const A = sa4(c, 8);
    const u = c.own(c.k.socket(AF_UNIX, SOCK_STREAM, 0));
    c.fails('U(A,0,AF_UNIX,ANY)', 'ENOTSUPP', () => c.k.mapUpdateElem(A, u32(0), u64(u), BPF_ANY));
  },
});
scenarios.push({
  name: 'implied update bound UDP without SO_REUSEPORT → EINVAL',
  run(c) {
    const A = sa4(c, 8);
    const u = c.own(c.k.socket(AF_INET, SOCK_DGRAM, 0));
    c.k.bind(u, '127.0.0.1', 0);
    c.fails('U(A,0,bound UDP no SO_REUSEPORT,ANY)', 'EINVAL', () => c.k.mapUpdateElem(A, u32(0), u64(u), BPF_ANY));
    const t = c.own(c.k.socket(AF_INET, SOCK_STREAM, 0));
    c.k.bind(t, '127.0.0.1', 0);
    c.k.listen(t, 1);
    c.fails('U(A,0,listening TCP no SO_REUSEPORT,ANY)', 'EINVAL', () => c.k.mapUpdateElem(A, u32(0), u64(t), BPF_ANY));
  },
});
scenarios.push({
  name: 'implied GET_NEXT_KEY NULL→0, 2→3, 3→ENOENT, 99→0',
  run(c) {
    const A = sa4(c, 8);
    const next = (label: string, key: Uint8Array | null, want: number): void => {
      const got = c.ok(label, () => c.k.mapGetNextKey(A, key));
      assert.deepEqual([...got], [...u32(want)], `${label}: next key`);
      c.note(`${label} = ${want}`);
    };
    next('next(NULL)', null, 0);
    next('next(2)', u32(2), 3);
    c.fails('next(3)', 'ENOENT', () => c.k.mapGetNextKey(A, u32(3)));
    next('next(99)', u32(99), 0);
  },
});
scenarios.push({
  name: 'implied value_size 4 lookup → ENOSPC even out of range',
  run(c) {
    const B = sa4(c, 4);
    c.fails('L(B,0) empty', 'ENOSPC', () => c.k.mapLookupElem(B, u32(0)));
    c.fails('L(B,99)', 'ENOSPC', () => c.k.mapLookupElem(B, u32(99)));
  },
});
scenarios.push({
  name: 'implied delete out of range → E2BIG, sockets stay in group after delete',
  run(c) {
    const A = sa4(c, 8);
    const s = listener(c);
    c.fails('D(A,99)', 'E2BIG', () => c.k.mapDeleteElem(A, u32(99)));
    c.ok('U(A,1,s,ANY)', () => c.k.mapUpdateElem(A, u32(1), u64(s), BPF_ANY));
    c.ok('D(A,1)', () => c.k.mapDeleteElem(A, u32(1)));
    // after delete the socket may be inserted again elsewhere (sk_user_data cleared)
    c.ok('U(A,2,s,NOEXIST)', () => c.k.mapUpdateElem(A, u32(2), u64(s), BPF_NOEXIST));
  },
});
scenarios.push({
  name: 'implied one socket in one sockarray slot anywhere (second map → EBUSY)',
  run(c) {
    const A = sa4(c, 8);
    const B = sa4(c, 8);
    const s = listener(c);
    c.ok('U(A,0,s,ANY)', () => c.k.mapUpdateElem(A, u32(0), u64(s), BPF_ANY));
    c.fails('U(B,0,s,ANY)', 'EBUSY', () => c.k.mapUpdateElem(B, u32(0), u64(s), BPF_ANY));
    c.ok('D(A,0)', () => c.k.mapDeleteElem(A, u32(0)));
    c.ok('D(A,0); U(B,0,s,ANY)', () => c.k.mapUpdateElem(B, u32(0), u64(s), BPF_ANY));
  },
});

// §1 access flags: they shape the returned fd only
scenarios.push({
  name: 'implied create RDONLY|WRONLY → EINVAL; RDONLY fd: update/delete EPERM; WRONLY fd: lookup/next EPERM',
  run(c) {
    const { k } = c;
    c.fails('create(RDONLY|WRONLY)', 'EINVAL', () => c.own(create(c, { mapFlags: BPF_F_RDONLY | BPF_F_WRONLY })));
    const s = listener(c);
    const ro = c.own(c.ok('create(RDONLY)', () => create(c, { mapFlags: BPF_F_RDONLY })));
    c.fails('RDONLY U(0,s)', 'EPERM', () => k.mapUpdateElem(ro, u32(0), u64(s), BPF_ANY));
    c.fails('RDONLY D(0)', 'EPERM', () => k.mapDeleteElem(ro, u32(0)));
    c.fails('RDONLY L(0) empty', 'ENOENT', () => k.mapLookupElem(ro, u32(0)));
    const wo = c.own(c.ok('create(WRONLY)', () => create(c, { mapFlags: BPF_F_WRONLY })));
    c.ok('WRONLY U(0,s)', () => k.mapUpdateElem(wo, u32(0), u64(s), BPF_ANY));
    c.fails('WRONLY L(0)', 'EPERM', () => k.mapLookupElem(wo, u32(0)));
    c.fails('WRONLY next(NULL)', 'EPERM', () => k.mapGetNextKey(wo, null));
    c.ok('WRONLY D(0)', () => k.mapDeleteElem(wo, u32(0)));
  },
});

await scenarioTable(TABLE, scenarios, { known: KNOWN_DIFFERENCES });
