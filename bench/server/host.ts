/**
 * One server under test, in its own process so its CPU can be measured alone:
 *   reuseport <backend> <policy> | cluster rr | cluster none
 * Prints {ready} on IPC, answers {cpu} with the CPU this primary used since the last ask,
 * {restart} with a rolling restart. Workers: build/src/cli/demo_worker.js (hello world).
 */
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { ReuseportGroup } from '../../src/group/reuseport_group.js';

const [kind, a, b, portArg, workersArg] = process.argv.slice(2);
const port = Number(portArg);
const workers = Number(workersArg);
const script = fileURLToPath(new URL('../../src/cli/demo_worker.js', import.meta.url));
const send = (m: unknown): void => void process.send!(m);

let group: ReuseportGroup | undefined;
let last = process.cpuUsage();
let lastAt = performance.now();

if (kind === 'cluster') {
  cluster.schedulingPolicy = a === 'rr' ? cluster.SCHED_RR : cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: script, silent: false });
  let up = 0;
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork({ PORT: String(port), REUSEPORT_WORKER_ID: String(i + 1) });
    w.on('listening', () => {
      if (++up === workers) send({ ready: true, backend: `cluster ${a === 'rr' ? 'SCHED_RR' : 'SCHED_NONE'}` });
    });
  }
} else {
  group = new ReuseportGroup({ script, port, host: '127.0.0.1', workers, backend: a as 'kernel', policy: b, stdio: 'inherit', heartbeatIntervalMs: 1000 });
  await group.start();
  send({ ready: true, backend: group.backendKind });
}

process.on('message', async (m: { cmd: string }) => {
  if (m.cmd === 'cpu') {
    const u = process.cpuUsage(last);
    const now = performance.now();
    send({ cpuPct: ((u.user + u.system) / 1000 / (now - lastAt)) * 100 });
    last = process.cpuUsage();
    lastAt = now;
  } else if (m.cmd === 'restart') {
    await group?.rollingRestart();
    send({ restarted: true });
  } else if (m.cmd === 'stop') {
    if (group) await group.shutdown();
    else for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  }
});
