/**
 * What a server.listen(...) / socket.bind(...) call asks for, decoded the way net and dgram do,
 * so the worker can tell a listen on the group's port (served by the group's socket) from any
 * other listen (passed through untouched).
 */

export interface ListenRequest {
  port: number;
  host: string | undefined;
  backlog: number | undefined;
  callback: ((...a: unknown[]) => void) | undefined;
}

function toPort(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) {
    const n = Number(v);
    return n <= 65535 ? n : undefined;
  }
  return undefined;
}

/** net.Server.listen arguments; undefined for pipes, handles, fds or no port at all. */
export function parseListenArgs(args: readonly unknown[]): ListenRequest | undefined {
  const last = args[args.length - 1];
  const callback = typeof last === 'function' ? (last as ListenRequest['callback']) : undefined;
  const rest = callback ? args.slice(0, -1) : args;
  const first = rest[0];
  if (typeof first === 'object' && first !== null) {
    const o = first as { port?: unknown; host?: unknown; backlog?: unknown; path?: unknown; fd?: unknown; handle?: unknown; _handle?: unknown };
    if (o.path !== undefined || o.fd !== undefined || o.handle !== undefined || o._handle !== undefined) return undefined;
    const port = toPort(o.port);
    if (port === undefined) return undefined;
    return {
      port,
      host: typeof o.host === 'string' ? o.host : undefined,
      backlog: typeof o.backlog === 'number' ? o.backlog : typeof rest[1] === 'number' ? rest[1] : undefined,
      callback,
    };
  }
  const port = toPort(first);
  if (port === undefined) return undefined;
  const host = typeof rest[1] === 'string' ? rest[1] : undefined;
  const backlogArg = typeof rest[1] === 'number' ? rest[1] : rest[2];
  return { port, host, backlog: typeof backlogArg === 'number' ? backlogArg : undefined, callback };
}

/** dgram.Socket.bind arguments: bind(port?, address?, cb?) or bind(options, cb?). */
export function parseBindArgs(args: readonly unknown[]): ListenRequest | undefined {
  const last = args[args.length - 1];
  const callback = typeof last === 'function' ? (last as ListenRequest['callback']) : undefined;
  const rest = callback ? args.slice(0, -1) : args;
  const first = rest[0];
  if (typeof first === 'object' && first !== null) {
    const o = first as { port?: unknown; address?: unknown; fd?: unknown };
    if (o.fd !== undefined) return undefined;
    const port = toPort(o.port);
    if (port === undefined) return undefined;
    return { port, host: typeof o.address === 'string' ? o.address : undefined, backlog: undefined, callback };
  }
  const port = toPort(first);
  if (port === undefined) return undefined;
  return { port, host: typeof rest[1] === 'string' ? rest[1] : undefined, backlog: undefined, callback };
}
