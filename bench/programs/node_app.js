// The Node server of the same shape as examples/app.py, for PM2 cluster mode and the plain
// Node cluster ceiling: GET anything -> JSON with the pid, one request per connection
// (Connection: close, as Python's http.server answers HTTP/1.0), graceful stop on
// SIGINT/SIGTERM (PM2 sends SIGINT on stop and reload): finish what was accepted, then exit.
'use strict';
const http = require('http');

const port = Number(process.env.PORT || 8000);
const id = process.env.NODE_APP_INSTANCE !== undefined ? `web.${Number(process.env.NODE_APP_INSTANCE) + 1}` : 'app';

const server = http.createServer((req, res) => {
  const body = JSON.stringify({ pid: process.pid, id, path: req.url }) + '\n';
  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  });
  res.end(body);
});

server.listen(port, () => {
  if (process.send) process.send('ready');
});

function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
