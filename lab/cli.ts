// `npm run lab -- <command>`: the lab for people. `up` starts a detached supervisor that owns the lab;
// the other commands talk to it over `.lab/control.sock` (exec runs directly in the host's namespace).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { callControl, type ControlOp } from './control.js';
import { LabError } from './errors.js';
import { LabHost } from './hosts.js';
import { INSTALL_MODES, type InstallMode, type LabStatus } from './lab.js';
import { waitFor } from './process.js';
import { statusReport, upReport } from './report.js';
import { cleanByState, labDir, paths, readState, type LabState } from './state.js';
import { pidAlive } from './process.js';
import { ensureToolchain } from './toolchain.js';
import { ROUTER_KINDS, type RouterKind } from './topology.js';

function say(line: string): void {
  process.stderr.write(`[lab] ${line}\n`);
}

/** The running lab's state, or a LabError saying how to get one. */
function liveState(): LabState {
  const s = readState();
  if (!s || !pidAlive(s.pid)) throw new LabError('lab', 'not running; start it with `npm run lab -- up`');
  if (s.phase !== 'up') throw new LabError('lab', `is ${s.phase}${s.error ? `: ${s.error}` : ''}`);
  return s;
}

function call<T>(req: ControlOp, timeoutMs?: number): Promise<T> {
  liveState();
  return callControl<T>(paths.control(), req, timeoutMs);
}

async function printUp(state: LabState): Promise<void> {
  if (!state.topology) throw new LabError('lab', 'state has no topology');
  let status = await call<LabStatus>({ op: 'status' });
  // With Bollard's controller running, give it a moment to assign the demo's VIPs before printing them.
  if (status.processes.some((p) => p.name === 'controller' && p.running)) {
    try {
      status = await waitFor(
        'demo VIPs',
        async () => {
          const s = await call<LabStatus>({ op: 'status' });
          const lbs = s.services.filter((x) => x.namespace === 'demo' && x.type === 'LoadBalancer');
          return lbs.length > 0 && lbs.every((x) => x.vips.length > 0) ? s : undefined;
        },
        20_000,
        500,
      );
    } catch {
      status = await call<LabStatus>({ op: 'status' });
    }
  }
  process.stdout.write(upReport(state.topology, status, state.upMs ?? 0, process.cwd()));
}

async function up(opts: {
  nodes: number;
  router: RouterKind;
  ipv6: boolean;
  install: InstallMode;
}): Promise<void> {
  const existing = readState();
  if (existing && existing.phase === 'up' && pidAlive(existing.pid)) {
    say('the lab is already up (no change; `npm run lab -- down` first to rebuild it with other options)');
    await printUp(existing);
    return;
  }
  const cleaned = await cleanByState();
  if (cleaned.length > 0) say(`cleaned what an earlier lab left: ${cleaned.join('; ')}`);
  if (process.getuid?.() !== 0) throw new LabError('lab', 'must run as root (network namespaces, iptables)');
  ensureToolchain(say);
  if (opts.install !== 'processes') {
    // real nodes run images: build them here, with progress, before the supervisor starts (the first
    // time takes minutes: two Debian bases, npm ci, the image)
    const { describeError, ensureImages } = await import('./image/index.js');
    const images = await ensureImages(say);
    if (!images.ok) throw new LabError('images', describeError(images.error));
  }
  mkdirSync(join(labDir(), 'logs'), { recursive: true });
  const logFd = openSync(paths.supervisorLog(), 'a');
  const supervisor = join(dirname(fileURLToPath(import.meta.url)), 'supervisor.js');
  const child = spawn(
    process.execPath,
    [
      '--enable-source-maps',
      supervisor,
      '--nodes',
      String(opts.nodes),
      '--router',
      opts.router,
      '--ipv6',
      String(opts.ipv6),
      '--install',
      opts.install,
    ],
    { detached: true, stdio: ['ignore', logFd, logFd] },
  );
  child.unref();
  const pid = child.pid ?? 0;
  say(`starting (supervisor pid ${pid}, logs in ${join(labDir(), 'logs')})`);
  const state = await waitFor(
    'lab up',
    () => {
      const s = readState();
      if (s?.pid === pid && (s.phase === 'up' || s.phase === 'failed')) return s;
      if (!pidAlive(pid)) return { phase: 'failed', error: 'supervisor exited' } as LabState;
      return undefined;
    },
    180_000,
    100,
  );
  if (state.phase !== 'up') {
    const tail = existsSync(paths.supervisorLog())
      ? readFileSync(paths.supervisorLog(), 'utf8').split('\n').slice(-30).join('\n')
      : '';
    throw new LabError('lab', `failed to start: ${state.error ?? 'unknown'}\n${tail}`);
  }
  await printUp(state);
}

async function down(): Promise<void> {
  const s = readState();
  if (s && s.phase === 'up' && pidAlive(s.pid) && existsSync(paths.control())) {
    try {
      await callControl(paths.control(), { op: 'down' }, 60_000);
      await waitFor('supervisor exit', () => (pidAlive(s.pid) ? undefined : true), 15_000);
      say('lab torn down');
    } catch (err) {
      say(`supervisor did not tear down cleanly (${(err as Error).message}); cleaning by the state file`);
    }
  }
  const cleaned = await cleanByState();
  for (const c of cleaned) say(c);
  if (!s && cleaned.length === 0) say('no lab to take down');
}

function exec(host: string, cmd: string[]): void {
  const s = liveState();
  const ns = s.topology?.namespaces[host];
  if (!ns)
    throw new LabError(host, `no such host (hosts: ${Object.keys(s.topology?.namespaces ?? {}).join(', ')})`);
  const [first, ...rest] = cmd;
  if (!first) throw new LabError(host, 'no command given (npm run lab -- exec HOST -- CMD ARGS…)');
  const argv = new LabHost(host, ns, s.runDirs?.[host]).argv(first, rest);
  const r = spawnSync(argv[0] as string, argv.slice(1), { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function installMode(v: string): InstallMode {
  if (!INSTALL_MODES.includes(v as InstallMode))
    throw new InvalidArgumentError(`one of ${INSTALL_MODES.join(', ')}`);
  return v as InstallMode;
}

function routerKind(v: string): RouterKind {
  if (!ROUTER_KINDS.includes(v as RouterKind))
    throw new InvalidArgumentError(`one of ${ROUTER_KINDS.join(', ')}`);
  return v as RouterKind;
}

export function labProgram(): Command {
  const program = new Command('lab').description(
    'a whole bare-metal cluster on this machine, from real parts',
  );
  program
    .command('up')
    .description('build the lab (a no-op that reprints the info when it is already up)')
    .option('--nodes <n>', 'number of nodes', positiveInt, 3)
    .option('--router <kind>', `upstream router: ${ROUTER_KINDS.join('|')}`, routerKind, 'bird' as RouterKind)
    .option('--ipv6', 'dual-stack (default)', true)
    .option('--no-ipv6', 'IPv4 only')
    .option(
      '--install <how>',
      'helm: real kubelet nodes, Bollard from its image by `helm install` (default); kustomize: the same by `kubectl apply -k`; processes: Bollard as host processes on stand-in nodes (fast); none: real nodes, Bollard not installed',
      installMode,
      'helm' as InstallMode,
    )
    .action(up);
  program.command('down').description('remove every namespace, process and file of the lab').action(down);
  program
    .command('info')
    .description('print the summary `up` printed')
    .action(async () => printUp(liveState()));
  program
    .command('status')
    .description('hosts, processes, services, who announces which VIP, BGP sessions')
    .option('--json', 'as JSON')
    .action(async (o: { json?: boolean }) => {
      const st = await call<LabStatus>({ op: 'status' });
      process.stdout.write(o.json ? JSON.stringify(st, null, 2) + '\n' : statusReport(st));
    });
  program
    .command('exec')
    .description('run a command inside a lab host: npm run lab -- exec client -- curl -s http://10.50.0.200/')
    .argument('<host>', 'client, external, router, node-1…')
    .argument('<cmd...>', 'the command (put -- before it)')
    .action(exec);
  for (const op of ['kill', 'stop', 'start'] as const) {
    program
      .command(op)
      .description(
        `${op === 'kill' ? 'SIGKILL' : op === 'stop' ? 'SIGTERM' : 'start again'} a lab process, e.g. ${op} node-1 speaker`,
      )
      .argument('<host>')
      .argument('<process>', 'kube-proxy, speaker, apiserver-forward, bird, controller, kube-apiserver…')
      .action(async (host: string, proc: string) => {
        await call({ op, host, process: proc });
        say(`${op} ${host} ${proc}: done`);
      });
  }
  program
    .command('link')
    .description("pull or restore a host's cable")
    .argument('<host>')
    .argument('<state>', 'up|down')
    .action(async (host: string, state: string) => {
      if (state !== 'up' && state !== 'down') throw new LabError(host, 'link state is up or down');
      await call({ op: 'link', host, state });
      say(`link ${host} ${state}`);
    });
  program
    .command('node')
    .description('mark a Node Ready or NotReady (the lab plays kubelet)')
    .argument('<node>')
    .argument('<state>', 'ready|notready')
    .action(async (node: string, state: string) => {
      await call({ op: 'node-ready', node, ready: state === 'ready' });
      say(`${node} ${state}`);
    });
  program
    .command('pods')
    .description(
      "move a Service's endpoints like a rollout: add, remove, unready or ready its pods on a node",
    )
    .argument('<action>', 'add|remove|unready|ready')
    .requiredOption('--node <node>', 'node-1…')
    .requiredOption('--service <ns/name>', 'e.g. demo/web')
    .option('--count <n>', 'how many pods to add or remove (remove: default all on the node)', positiveInt)
    .action(async (action: string, o: { node: string; service: string; count?: number }) => {
      if (!['add', 'remove', 'unready', 'ready'].includes(action))
        throw new LabError('pods', 'action is add|remove|unready|ready');
      const pods = await call<
        { namespace: string; name: string; ipv4: string; ipv6?: string; ready: boolean }[]
      >({
        op: 'pods',
        action: action as 'add',
        node: o.node,
        service: o.service,
        ...(o.count ? { count: o.count } : {}),
      });
      for (const p of pods) {
        say(
          `${action} ${p.namespace}/${p.name} on ${o.node} (${[p.ipv4, p.ipv6].filter(Boolean).join(' ')})`,
        );
      }
    });
  return program;
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  labProgram()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      say(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    });
}
