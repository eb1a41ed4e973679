// The lab's demo workload, dependency-free, on IPv4 and IPv6 (one dual-stack socket on ::).
//   GET  /               200 "pod <POD_NAMESPACE>/<POD_NAME> on <NODE_NAME>\n" (the Deployment sets them
//                        from the downward API)
//   GET  /client         200 the client's address as this pod sees it (source IP preservation)
//   GET  /healthz        200 while ready, 503 otherwise (the readiness probe)
//   POST /control/ready  body "true" or "false": sets readiness, so a test can fail a pod's probe
//   GET  /control/ready  "true" or "false"
// On SIGTERM (or SIGINT) it keeps serving for DRAIN_SECONDS (default 0), then exits 0, so a
// terminating pod can stay serving for a while. PORT (default 80) is the port. Logs are JSON lines.
import { createServer } from 'node:http';
import { Buffer } from 'node:buffer';
import { hostname } from 'node:os';
import process from 'node:process';
import { setTimeout } from 'node:timers';

const port = Number(process.env.PORT ?? 80);
const drainSeconds = Math.max(0, Number(process.env.DRAIN_SECONDS ?? 0) || 0);
const identity =
  `pod ${process.env.POD_NAMESPACE ?? 'default'}/${process.env.POD_NAME ?? hostname()}` +
  ` on ${process.env.NODE_NAME ?? 'unknown'}\n`;

let ready = true;
let terminating = false;

function log(level, msg, fields = {}) {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + '\n');
}

function reply(res, status, body) {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** At most 64 bytes of the request's body. */
function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 64) req.destroy(new Error('body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

async function handle(req, res) {
  const path = (req.url ?? '/').split('?')[0];
  const get = req.method === 'GET' || req.method === 'HEAD';
  if (get && path === '/') return reply(res, 200, identity);
  if (get && path === '/client') return reply(res, 200, `${req.socket.remoteAddress}\n`);
  if (get && path === '/healthz') return reply(res, ready ? 200 : 503, ready ? 'ok\n' : 'not ready\n');
  if (get && path === '/control/ready') return reply(res, 200, `${ready}\n`);
  if (req.method === 'POST' && path === '/control/ready') {
    const body = (await readBody(req).catch(() => '')).trim();
    if (body !== 'true' && body !== 'false') return reply(res, 400, 'body must be "true" or "false"\n');
    ready = body === 'true';
    log('info', 'readiness set', { ready, from: req.socket.remoteAddress });
    return reply(res, 200, `${ready}\n`);
  }
  return reply(res, 404, 'not found\n');
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    log('error', 'request failed', { error: String(err) });
    if (!res.headersSent) reply(res, 500, 'error\n');
  });
});

function listen(host, ipv6Only) {
  server.once('error', (err) => {
    // No IPv6 in this network namespace: serve IPv4 alone.
    if (host === '::' && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL'))
      return listen('0.0.0.0');
    log('error', 'listen failed', { host, port, error: err.message });
    process.exit(1);
  });
  server.listen({ host, port, ipv6Only }, () =>
    log('info', 'listening', { host, port, identity: identity.trim() }),
  );
}

function terminate(signal) {
  if (terminating) return;
  terminating = true;
  log('info', 'terminating', { signal, drainSeconds });
  setTimeout(() => {
    server.close();
    server.closeAllConnections();
    log('info', 'exiting');
    process.exit(0);
  }, drainSeconds * 1000);
}

process.on('SIGTERM', () => terminate('SIGTERM'));
process.on('SIGINT', () => terminate('SIGINT'));
listen('::', false);
