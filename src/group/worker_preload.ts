/** `node --import <this file> worker.js`: installs the group's listen/bind interception. */
import { install } from './worker_runtime.js';

install();
