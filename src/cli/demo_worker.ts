/** The demo's worker: a hello-world HTTP server, exactly what a user would write. */
import http from 'node:http';

const id = process.env.REUSEPORT_WORKER_ID ?? String(process.pid);
http
  .createServer((_req, res) => {
    res.setHeader('x-worker', id);
    res.end(`hello from worker ${id}\n`);
  })
  .listen(Number(process.env.PORT));
