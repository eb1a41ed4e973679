// The lab's supervisor: started detached by `npm run lab -- up`, it runs one Lab in `.lab/`, writes
// `.lab/state.json`, and serves `.lab/control.sock` until `down` (or a signal). Every process of the
// lab is its child and dies with it (pdeathsig); namespaces of a dead supervisor are removed by the
// next `up` or `down`.
//   node dist/lab/supervisor.js --nodes 3 --router bird --ipv6 true --install helm
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Server } from 'node:net';
import { INSTALL_MODES, Lab, type InstallMode } from './lab.js';
import { serveControl, type ControlOp } from './control.js';
import { labDir, paths, writeState, type LabState } from './state.js';
import type { RouterKind } from './topology.js';
import { LabError } from './errors.js';

function log(msg: string): void {
  process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '3' },
      router: { type: 'string', default: 'bird' },
      ipv6: { type: 'string', default: 'true' },
      install: { type: 'string', default: 'helm' },
    },
  });
  const install = values.install as InstallMode;
  if (!INSTALL_MODES.includes(install)) throw new LabError('supervisor', `unknown --install ${install}`);
  const options = {
    nodes: Number(values.nodes),
    router: values.router as RouterKind,
    ipv6: values.ipv6 !== 'false',
    install,
  };
  const dir = labDir();
  mkdirSync(dir, { recursive: true });
  writeFileSync(paths.pid(), String(process.pid));
  const state: LabState = {
    pid: process.pid,
    prefix: `bollard-${process.pid}-lab-`,
    phase: 'starting',
    options,
    startedAt: new Date().toISOString(),
  };
  writeState(state);
  const t0 = Date.now();
  let lab: Lab;
  try {
    lab = await Lab.start({ ...options, dir, tag: 'lab', demo: true, say: log });
  } catch (err) {
    log(`lab failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    writeState({ ...state, phase: 'failed', error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  const ctl: { server?: Server } = {};
  let shuttingDown: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    shuttingDown ??= (async () => {
      log('tearing down');
      ctl.server?.close();
      await lab.stop();
      rmSync(dir, { recursive: true, force: true });
    })();
    return shuttingDown;
  };
  const handle = async (req: ControlOp): Promise<unknown> => {
    switch (req.op) {
      case 'status':
        return lab.status();
      case 'kill':
        return lab.kill(req.host, req.process);
      case 'stop':
        return lab.stopProcess(req.host, req.process);
      case 'start':
        return lab.startProcess(req.host, req.process);
      case 'link':
        return lab.link(req.host, req.state);
      case 'node-ready':
        return lab.setNodeReady(req.node, req.ready);
      case 'pods':
        if (lab.realKubelets) {
          const pods = await lab.clusterPods(req.action, req.service, req.node, req.count);
          return pods.map((p) => ({
            namespace: p.namespace,
            name: p.name,
            ipv4: p.ips.find((ip) => !ip.includes(':')) ?? '',
            ipv6: p.ips.find((ip) => ip.includes(':')),
            ready: p.ready,
          }));
        }
        switch (req.action) {
          case 'add': {
            const added = [];
            for (let i = 0; i < (req.count ?? 1); i++) added.push(await lab.addPod(req.service, req.node));
            return added;
          }
          case 'remove':
            return lab.removePods(req.service, req.node, req.count);
          case 'unready':
            return lab.setPodsReady(req.service, req.node, false);
          case 'ready':
            return lab.setPodsReady(req.service, req.node, true);
        }
        break;
      case 'down':
        await shutdown();
        setImmediate(() => process.exit(0));
        return 'down';
    }
    throw new LabError('supervisor', `unknown op ${(req as { op: string }).op}`);
  };
  ctl.server = await serveControl(paths.control(), handle);
  writeState({
    ...state,
    phase: 'up',
    upMs: Date.now() - t0,
    topology: lab.topology,
    runDirs: { router: join(dir, 'hosts', 'router', 'run') },
  });
  log(`lab up in ${Date.now() - t0} ms; control socket ${paths.control()}`);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(sig, () => {
      shutdown().then(
        () => process.exit(0),
        (err: unknown) => {
          log(`teardown failed: ${err instanceof Error ? err.message : String(err)}`);
          process.exit(1);
        },
      );
    });
  }
}

main().catch((err: unknown) => {
  log(`supervisor failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
