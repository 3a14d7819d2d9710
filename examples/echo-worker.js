// A plain TCP server that says which worker answered, then closes.
import net from 'node:net';

const id = process.env.REUSEPORT_WORKER_ID ?? String(process.pid);
net.createServer((s) => s.end(`worker ${id}\n`)).listen(Number(process.env.PORT ?? 8081));
