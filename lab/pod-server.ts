// The lab's pod: a tiny HTTP server that says who it is. Runs inside a pod's network namespace,
// listening on every address (IPv4 and IPv6) of the pod.
//   node dist/lab/pod-server.js --pod demo/web-node-1-1 --node node-1 --port 80
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    pod: { type: 'string' },
    node: { type: 'string' },
    port: { type: 'string', default: '80' },
  },
});
const pod = values.pod ?? 'unknown';
const node = values.node ?? 'unknown';
const port = Number(values.port);

const server = createServer((req, res) => {
  const body = req.url === '/healthz' ? 'ok\n' : `pod ${pod} on ${node}\n`;
  res.writeHead(200, { 'content-type': 'text/plain', 'x-pod': pod, 'x-node': node, connection: 'close' });
  res.end(body);
});
server.keepAliveTimeout = 1000;
server.listen({ port, host: '::', ipv6Only: false }, () => {
  process.stdout.write(`pod ${pod} on ${node} listening on :${port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
