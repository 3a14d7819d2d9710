/**
 * Shared pieces of the group tests: the backends to run each scenario on, worker fixtures, an
 * HTTP client that reports which worker answered, and process/fd checks for "no orphans, no
 * leaked socket".
 */
import http from 'node:http';
import { readdirSync, readlinkSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { requireKernel } from '../support/netns.js';
import { ReuseportGroup, type GroupOptions } from '../../src/group/reuseport_group.js';
import { anyListener } from '../../src/group/port_check.js';

export const fixture = (name: string): string => new URL(`../../../test/group/fixtures/${name}`, import.meta.url).pathname;
export const example = (name: string): string => new URL(`../../../examples/${name}`, import.meta.url).pathname;

export type TestBackend = 'kernel' | 'emulated';
export const BACKENDS: TestBackend[] = ['kernel', 'emulated'];

/** True when the scenario may run on `backend` (kernel: root + bpf + private netns; else skip/fail). */
export function backendAvailable(t: TestContext, backend: TestBackend): boolean {
  if (backend === 'emulated') return true;
  return requireKernel(t) !== undefined;
}

// 100 ports per test process, spread by pid: parallel test files never share a port
let portSeq = 20000 + (process.pid % 100) * 100;
export const nextPort = (): number => portSeq++;

/** Fast timers so lifecycle tests take well under a second each. */
export const FAST: Partial<GroupOptions> = {
  readyTimeoutMs: 8000,
  drainTimeoutMs: 3000,
  heartbeatIntervalMs: 100,
  heartbeatTimeoutMs: 600,
  flowIdleMs: 150,
  restartBackoff: { initialMs: 20, maxMs: 200 },
  stdio: 'pipe',
};

export async function startGroup(t: TestContext, opts: Partial<GroupOptions> & { script: string }): Promise<ReuseportGroup> {
  const g = new ReuseportGroup({ port: nextPort(), host: '127.0.0.1', workers: 2, ...FAST, ...opts } as GroupOptions);
  t.after(() => g.shutdown());
  await g.start();
  return g;
}

export interface Reply {
  status: number;
  worker: string;
  body: string;
}

export function get(port: number, path = '/', agent: http.Agent | false = false, localAddress?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent, localAddress, headers: agent ? {} : { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, worker: String(res.headers['x-worker']), body }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

export async function counts(port: number, n: number): Promise<Record<string, number>> {
  const c: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await get(port);
    c[r.worker] = (c[r.worker] ?? 0) + 1;
  }
  return c;
}

export function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Socket inodes a process holds ('socket:[123]' links in /proc/PID/fd). */
export function socketInodes(pid: number | 'self'): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const l = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (l.startsWith('socket:')) out.add(l);
    } catch { /* closed meanwhile */ }
  }
  return out;
}

/** Nothing listens on the port any more (no leaked listening socket)? */
export async function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return !(await anyListener([host], port));
}

/**
 * `clients` loops of GET requests against `port` until stopped, pausing `pauseMs` between
 * requests; `stop()` waits for them and returns how many got 200 and every failure seen.
 */
export function httpLoad(port: number, clients: number, pauseMs = 0): { stop(): Promise<{ ok: number; failures: string[] }> } {
  let stopped = false;
  let ok = 0;
  const failures: string[] = [];
  const loops = Array.from({ length: clients }, async () => {
    while (!stopped) {
      try {
        const r = await get(port);
        if (r.status === 200) ok++;
        else failures.push(`HTTP ${r.status}`);
      } catch (e) {
        failures.push((e as NodeJS.ErrnoException).code ?? String(e));
      }
      if (pauseMs) await sleep(pauseMs);
    }
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return { ok, failures };
    },
  };
}
