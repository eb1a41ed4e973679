// The kube-proxy health prober on a real HTTP server over loopback: what counts as healthy, and when
// a Service turns unhealthy. Awaits the prober's own reports (onChange).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { HealthProber, probeOnce } from '../../speaker/health.js';

/** Turns a lost event into a failure within a minute (the runner's own limit is ten); no test waits on it. */
const GUARD = { timeout: 60_000 };

describe('health prober (kube-proxy healthCheckNodePort)', () => {
  let code = 200;
  let body = '{"localEndpoints":1}';
  let hang = false;
  const server: Server = createServer((_req, res) => {
    if (hang) return;
    res.writeHead(code, { 'content-type': 'application/json' }).end(body);
  });
  const ready = new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it(
    '200 with local endpoints is healthy; 503, 0 endpoints, refused and timeouts are not',
    GUARD,
    async () => {
      const port = await ready;
      const t = { host: '127.0.0.1', port };
      code = 200;
      body = '{"localEndpoints":2}';
      assert.equal(await probeOnce(t, 200), true);
      body = '{"localEndpoints":0}';
      assert.equal(await probeOnce(t, 200), false);
      code = 503;
      body = '{"localEndpoints":0}';
      assert.equal(await probeOnce(t, 200), false);
      hang = true;
      assert.equal(await probeOnce(t, 100), false);
      hang = false;
      assert.equal(await probeOnce({ host: '127.0.0.1', port: 1 }, 200), false);
    },
  );

  it(
    'reports a Service healthy, then unhealthy once kube-proxy answers 503 (the count: unit test)',
    GUARD,
    async () => {
      const port = await ready;
      code = 200;
      body = '{"localEndpoints":1}';
      const seen: string[][] = [];
      let reported: (h: string[]) => void = () => undefined;
      /** The next report of the prober (its onChange). */
      const nextReport = (): Promise<string[]> => new Promise((resolve) => (reported = resolve));
      const p = new HealthProber({
        intervalMs: 30,
        timeoutMs: 100,
        onChange: (h) => {
          seen.push([...h]);
          reported([...h]);
        },
      });
      try {
        const first = nextReport();
        p.setTargets(new Map([['ns/web', { host: '127.0.0.1', port }]]));
        assert.deepEqual(await first, ['ns/web']);
        const second = nextReport();
        code = 503;
        assert.deepEqual(await second, []);
        assert.deepEqual(seen, [['ns/web'], []]);
      } finally {
        p.stop();
      }
    },
  );
});
