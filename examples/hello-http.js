// An ordinary Node HTTP server: run it with `reuseport serve examples/hello-http.js --port 8080`.
// Under a group, its listen() on the group's port is served through this worker's own socket.
import http from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const id = process.env.REUSEPORT_WORKER_ID ?? String(process.pid);

http
  .createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.setHeader('x-worker', id);
    res.end(`hello from worker ${id}\n`);
  })
  .listen(port);
