/** SO_COOKIE: a unique u64 per socket, generated on first use (__sock_gen_cookie). */
import type { Sock } from './socket.js';

/** One per simulated kernel: the seed fixes the base so cookies are reproducible. */
export class CookieGen {
  private next: bigint;
  constructor(base: bigint) {
    this.next = base;
  }
  gen(): bigint {
    return ++this.next;
  }
}

export function genCookie(sk: Sock): bigint {
  if (sk.cookie === 0n) sk.cookie = sk.cookieGen.gen();
  return sk.cookie;
}
