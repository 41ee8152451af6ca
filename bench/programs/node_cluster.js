// The ceiling for PM2 cluster mode: Node's own cluster module (what PM2 uses) running N
// copies of node_app.js, no manager. `node node_cluster.js N` (PORT from the environment).
'use strict';
const cluster = require('cluster');
const path = require('path');

if (cluster.isPrimary) {
  const n = Number(process.argv[2] || 1);
  cluster.setupPrimary({ exec: path.join(__dirname, 'node_app.js') });
  for (let i = 0; i < n; i++) cluster.fork({ NODE_APP_INSTANCE: String(i) });
  const stop = () => {
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers).length === 0) process.exit(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
