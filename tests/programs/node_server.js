// The tiny Node server of the real-server tests: GET anything -> JSON with the pid, $PORT and
// $PS. `node node_server.js` listens on process.env.PORT itself (as most Node apps do);
// `node node_server.js fd` serves the listener procman passes on fd 3 (listen({fd: 3})).
'use strict';
const http = require('http');

const server = http.createServer((req, res) => {
  const body = JSON.stringify({ pid: process.pid, port: process.env.PORT, ps: process.env.PS }) + '\n';
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});

const where = process.argv[2] === 'fd' ? { fd: 3 } : { port: Number(process.env.PORT), host: '0.0.0.0' };
server.listen(where, () => console.log(`listening on ${JSON.stringify(where)}`));

function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
