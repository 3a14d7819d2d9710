export * from './constants.js';
export * from './errno.js';
export type * from './kernel.js';
