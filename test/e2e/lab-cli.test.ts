// The lab CLI as a user runs it: up (a small lab; real kubelet nodes with Bollard installed by Helm, the
// default), exec, status, kill/start of a process and of Bollard's speaker pod, link down/up, a second
// up (a no-op that reprints the summary), and down, which leaves nothing behind.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listNetns } from '../../lab/netns.js';
import { repoPath } from '../support/repo.js';

const cli = repoPath('dist', 'lab', 'cli.js');
const parent = mkdtempSync(join(tmpdir(), 'bollard-test-lab-cli-'));
// FRR's daemons (running as the frr user) must be able to reach the lab's folder, as they can `.lab/`.
chmodSync(parent, 0o755);
const dir = join(parent, 'lab');
const env = { ...process.env, BOLLARD_LAB_DIR: dir };

function lab(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env, timeout: 180_000 }, (err, stdout, stderr) => {
      const raw = (err as { code?: unknown } | null)?.code;
      resolve({ code: err ? (typeof raw === 'number' ? raw : 1) : 0, stdout, stderr });
    });
  });
}

function supervisorPid(): number {
  return (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { pid: number }).pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('lab CLI', () => {
  let pid = 0;
  let upOut = '';
  before(async () => {
    const r = await lab('up', '--nodes', '2', '--router', 'frr');
    assert.equal(r.code, 0, r.stderr);
    upOut = r.stdout;
    pid = supervisorPid();
  });
  after(async () => {
    await lab('down');
    if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(parent, { recursive: true, force: true });
  });

  it('up prints the kubeconfig, the hosts and commands to try', () => {
    assert.match(upOut, new RegExp(`kubeconfig: ${join(dir, 'kubeconfig')}`));
    assert.match(upOut, /node-2 +10\.50\.0\.12/);
    assert.match(upOut, /npm run lab -- exec router -- vtysh -c 'show bgp summary'/);
    assert.ok(existsSync(join(dir, 'kubeconfig')));
  });

  it('exec runs commands inside hosts, router CLIs included', async () => {
    const ping = await lab('exec', 'client', '--', 'ping', '-c1', '-W2', '10.50.0.12');
    assert.equal(ping.code, 0, ping.stderr);
    const vtysh = await lab('exec', 'router', '--', 'vtysh', '-c', 'show bgp summary');
    assert.equal(vtysh.code, 0, vtysh.stderr);
    assert.match(vtysh.stdout, /10\.50\.0\.11/);
    assert.notEqual((await lab('exec', 'nosuchhost', '--', 'true')).code, 0);
  });

  it('status shows hosts, processes and BGP sessions; kill and start a process', async () => {
    const st = await lab('status');
    assert.equal(st.code, 0, st.stderr);
    assert.match(
      st.stdout,
      /node-1 +apiserver-forward, apiserver-forward-pods, kube-proxy, containerd, kubelet/,
    );
    assert.match(st.stdout, /BGP sessions \(router\):/);
    assert.equal((await lab('kill', 'node-1', 'kube-proxy')).code, 0);
    assert.match((await lab('status')).stdout, /kube-proxy \(NOT RUNNING\)/);
    assert.equal((await lab('start', 'node-1', 'kube-proxy')).code, 0);
    assert.doesNotMatch((await lab('status')).stdout, /NOT RUNNING/);
  });

  it('kill and stop act on the speaker pod of a node; start waits until it is Ready again', async () => {
    assert.match(upOut, /speaker: 2\/2 pods ready/);
    for (const op of ['kill', 'stop'] as const) {
      const r = await lab(op, 'node-1', 'speaker');
      assert.equal(r.code, 0, r.stderr);
      const s = await lab('start', 'node-1', 'speaker');
      assert.equal(s.code, 0, s.stderr);
    }
    assert.match((await lab('info')).stdout, /speaker: 2\/2 pods ready/);
  });

  it('link down cuts a node off the LAN and link up restores it', async () => {
    assert.equal((await lab('link', 'node-2', 'down')).code, 0);
    assert.notEqual((await lab('exec', 'client', '--', 'ping', '-c1', '-W1', '10.50.0.12')).code, 0);
    assert.equal((await lab('link', 'node-2', 'up')).code, 0);
    assert.equal((await lab('exec', 'client', '--', 'ping', '-c1', '-W2', '10.50.0.12')).code, 0);
  });

  it('a second up is a no-op that reprints the summary', async () => {
    const r = await lab('up');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /already up/);
    assert.equal(supervisorPid(), pid);
  });

  it('down leaves no namespace, no process and no file', async () => {
    const prefix = `bollard-${pid}-lab-`;
    assert.ok(listNetns().some((n) => n.startsWith(prefix)));
    const r = await lab('down');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      listNetns().filter((n) => n.startsWith(prefix)),
      [],
    );
    assert.equal(alive(pid), false);
    assert.equal(existsSync(dir), false);
    // the real nodes' cgroup trees and mounts went with them
    assert.deepEqual(
      readdirSync('/sys/fs/cgroup/memory').filter((n) => n.startsWith(`bollard-${pid}-`)),
      [],
    );
    assert.doesNotMatch(
      readFileSync('/proc/self/mountinfo', 'utf8'),
      new RegExp(dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
    );
  });
});
