// The programmatic API: start a group, watch it, restart it, change its policy, stop it.
//   node examples/programmatic.mjs            (after `npm run build`)
import { ReuseportGroup } from 'reuseport';
import http from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const group = new ReuseportGroup({
  script: new URL('./hello-http.js', import.meta.url).pathname,
  port,
  host: '127.0.0.1',
  workers: 3,
  policy: 'round-robin',
  backend: process.env.REUSEPORT_BACKEND ?? 'auto',
});
group.on('backend', ({ kind, reason }) => console.log(`backend ${kind}: ${reason}`));
group.on('worker-up', (w) => console.log(`worker ${w.id} up (pid ${w.pid}, slot ${w.slot})`));
group.on('worker-down', (w, { reason }) => console.log(`worker ${w.id} down (${reason})`));
group.on('policy-changed', ({ from, to }) => console.log(`policy ${from} -> ${to}`));

const hit = () =>
  new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.headers['x-worker']));
    }).on('error', reject);
  });
const spread = async (n) => {
  const by = {};
  for (let i = 0; i < n; i++) {
    const w = await hit();
    by[w] = (by[w] ?? 0) + 1;
  }
  return by;
};

await group.start();
console.log('round-robin:', JSON.stringify(await spread(9)));
await group.rollingRestart();
console.log('after rolling restart:', JSON.stringify(await spread(9)));
group.setPolicy('least-loaded');
console.log('least-loaded:', JSON.stringify(await spread(9)));
for (const w of group.workers()) console.log(`worker ${w.id}: ${w.stats.connections} connections, state ${w.state}`);
await group.shutdown();
console.log('stopped');
