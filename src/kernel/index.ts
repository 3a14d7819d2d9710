export * from './constants.js';
export * from './errno.js';
export type * from './kernel.js';
export { fdOf, type SocketLike } from './socket_fd.js';
