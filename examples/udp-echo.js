// A UDP echo server: `reuseport serve examples/udp-echo.js --udp --port 5353 --workers 4`.
// Each reply says which worker answered; a flow (client address:port) stays with its worker.
import dgram from 'node:dgram';

const id = process.env.REUSEPORT_WORKER_ID ?? String(process.pid);
const socket = dgram.createSocket('udp6');
socket.on('message', (msg, rinfo) => {
  socket.send(`${id}:${msg}`, rinfo.port, rinfo.address);
});
socket.bind(Number(process.env.PORT ?? 5353));
