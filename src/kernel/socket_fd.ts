/**
 * The fd behind a Node socket object, read without deprecation warnings: net.Server /
 * net.Socket keep it in `_handle.fd`; dgram.Socket in `socket[stateSymbol].handle.fd` (reading
 * `socket._handle` would print DEP0112). Pure JavaScript: usable with any Kernel.
 */

/** What `ReuseportSockArray.set` and the attach helpers accept as a socket. */
export type SocketLike = number | { readonly _handle?: unknown } | object;

function stateHandle(obj: object): { fd?: unknown } | undefined {
  for (const sym of Object.getOwnPropertySymbols(obj)) {
    if (sym.description !== 'state symbol') continue;
    const state = (obj as Record<symbol, { handle?: { fd?: unknown } } | undefined>)[sym];
    return state?.handle ?? undefined;
  }
  return undefined;
}

/** fd of a number, a listening net.Server, a net.Socket or a bound dgram.Socket. */
export function fdOf(socket: SocketLike): number {
  if (typeof socket === 'number') {
    if (!Number.isInteger(socket) || socket < 0) throw new RangeError(`socket fd must be a non-negative integer, got ${socket}`);
    return socket;
  }
  if (typeof socket !== 'object' || socket === null) throw new TypeError(`expected an fd, a net.Server or a dgram.Socket, got ${socket === null ? 'null' : typeof socket}`);
  const state = stateHandle(socket);
  const handle = state ?? (Object.getOwnPropertyDescriptor(socket, '_handle')?.value as { fd?: unknown } | null | undefined);
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new TypeError('socket has no fd: a net.Server must be listening and a dgram.Socket bound (and neither closed)');
  }
  return fd;
}
