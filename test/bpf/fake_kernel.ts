/**
 * A minimal in-memory Kernel (hash maps and programs only) proving the object API needs
 * nothing but the Kernel interface. Not a model of Linux: src/sim is.
 */
import { ERRNO, SysError } from '../../src/kernel/errno.js';
import type { Kernel, MapCreateAttr, MapInfo, ProgInfo, ProgLoadAttr } from '../../src/kernel/kernel.js';

interface FakeMap { attr: MapCreateAttr; id: number; data: Map<string, Uint8Array> }
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export class FakeKernel implements Kernel {
  readonly kind = 'sim' as const;
  readonly calls: string[] = [];
  private next = 3;
  readonly maps = new Map<number, FakeMap>();
  readonly progs = new Map<number, { attr: ProgLoadAttr; id: number }>();
  private no = (name: string): never => { throw new SysError(name, ERRNO.ENOSYS); };
  private map(fd: number, call: string): FakeMap {
    const m = this.maps.get(fd);
    if (!m) throw new SysError(call, this.progs.has(fd) ? ERRNO.EINVAL : ERRNO.EBADF);
    return m;
  }
  socket(): number { return this.no('socket'); }
  setsockopt(): void { this.calls.push('setsockopt'); }
  getsockopt(): Uint8Array { return this.no('getsockopt'); }
  bind(): void { this.no('bind'); }
  listen(): void { this.no('listen'); }
  getsockname(): never { return this.no('getsockname'); }
  getpeername(): never { return this.no('getpeername'); }
  connect(): void { this.no('connect'); }
  accept(): number { return this.no('accept'); }
  sendto(): number { return this.no('sendto'); }
  recvfrom(): never { return this.no('recvfrom'); }
  shutdown(): void { this.no('shutdown'); }
  close(fd: number): void {
    this.calls.push(`close ${fd}`);
    if (!this.maps.delete(fd) && !this.progs.delete(fd)) throw new SysError('close', ERRNO.EBADF);
  }
  poll(): never { return this.no('poll'); }
  mapCreate(attr: MapCreateAttr): number {
    if (attr.keySize === 0 || attr.valueSize === 0 || attr.maxEntries === 0) throw new SysError('bpf(BPF_MAP_CREATE)', ERRNO.EINVAL);
    const fd = this.next++;
    this.maps.set(fd, { attr, id: fd * 10, data: new Map() });
    return fd;
  }
  mapLookupElem(fd: number, key: Uint8Array): Uint8Array {
    const v = this.map(fd, 'lookup').data.get(hex(key));
    if (!v) throw new SysError('bpf(BPF_MAP_LOOKUP_ELEM)', ERRNO.ENOENT);
    return v.slice();
  }
  mapUpdateElem(fd: number, key: Uint8Array, value: Uint8Array, flags = 0): void {
    const m = this.map(fd, 'update');
    const has = m.data.has(hex(key));
    if (flags === 1 && has) throw new SysError('bpf(BPF_MAP_UPDATE_ELEM)', ERRNO.EEXIST);
    if (flags === 2 && !has) throw new SysError('bpf(BPF_MAP_UPDATE_ELEM)', ERRNO.ENOENT);
    if (!has && m.data.size >= m.attr.maxEntries) throw new SysError('bpf(BPF_MAP_UPDATE_ELEM)', ERRNO.E2BIG);
    m.data.set(hex(key), value.slice());
  }
  mapDeleteElem(fd: number, key: Uint8Array): void {
    if (!this.map(fd, 'delete').data.delete(hex(key))) throw new SysError('bpf(BPF_MAP_DELETE_ELEM)', ERRNO.ENOENT);
  }
  mapGetNextKey(fd: number, key: Uint8Array | null): Uint8Array {
    const keys = [...this.map(fd, 'next').data.keys()];
    const i = key === null ? 0 : keys.indexOf(hex(key)) + 1;
    if (i >= keys.length) throw new SysError('bpf(BPF_MAP_GET_NEXT_KEY)', ERRNO.ENOENT);
    return new Uint8Array(Buffer.from(keys[i]!, 'hex'));
  }
  progLoad(attr: ProgLoadAttr): number {
    if (attr.insns.length === 8) throw new SysError('bpf(BPF_PROG_LOAD)', ERRNO.EACCES, undefined, '0: (95) exit\nR0 !read_ok\n');
    const fd = this.next++;
    this.progs.set(fd, { attr, id: fd * 10 });
    return fd;
  }
  objPin(): void { this.no('objPin'); }
  objGet(): number { return this.no('objGet'); }
  mapGetFdById(id: number): number {
    for (const m of this.maps.values()) if (m.id === id) { const fd = this.next++; this.maps.set(fd, m); return fd; }
    throw new SysError('bpf(BPF_MAP_GET_FD_BY_ID)', ERRNO.ENOENT);
  }
  progGetFdById(): number { return this.no('progGetFdById'); }
  mapGetInfo(fd: number): MapInfo {
    const { attr, id } = this.map(fd, 'info');
    return { type: attr.mapType, id, keySize: attr.keySize, valueSize: attr.valueSize, maxEntries: attr.maxEntries, mapFlags: attr.mapFlags ?? 0, name: attr.name ?? '' };
  }
  progGetInfo(fd: number): ProgInfo {
    const p = this.progs.get(fd);
    if (!p) throw new SysError('info', ERRNO.EBADF);
    return { type: p.attr.progType, id: p.id, name: p.attr.name ?? '', runTimeNs: 300n, runCnt: 4n };
  }
  enableStats(): number { const fd = this.next++; this.progs.set(fd, { attr: { progType: 0, insns: new Uint8Array() }, id: 0 }); return fd; }
  sysctl(): string { return this.no('sysctl'); }
}
