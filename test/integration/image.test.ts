// The runtime image's contents, without Docker (no engine here): the files the Dockerfile's second stage
// copies — production dependencies only (npm prune --omit=dev), the compiled programs, the two addons —
// are assembled in a folder, and from there `bollard` runs: the controller serves /healthz against a
// real apiserver, and every command's help loads (no dev dependency, no source file needed).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { repoRoot } from '../../lab/repo.js';
import { startControlPlane, type ControlPlane } from '../../lab/controlplane.js';
import { ManagedProcess, waitFor } from '../../lab/process.js';

/** The second stage's COPY lines, read from the Dockerfile itself so the test follows it. */
function runtimeCopies(dockerfile: string): { from: string; to: string }[] {
  const stage2 = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  return [...stage2.matchAll(/^COPY --from=build \/src\/(\S+) (\S+)$/gm)].map((m) => ({
    from: m[1] as string,
    to: m[2] as string,
  }));
}

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the runtime image contents (Dockerfile stage 2)', () => {
  const root = repoRoot();
  const app = mkdtempSync(join(tmpdir(), 'bollard-image-'));
  let cp: ControlPlane | undefined;

  before(() => {
    // Stage 1's result: production dependencies only.
    cpSync(join(root, 'package.json'), join(app, 'build', 'package.json'));
    cpSync(join(root, 'package-lock.json'), join(app, 'build', 'package-lock.json'));
    cpSync(join(root, 'node_modules'), join(app, 'build', 'node_modules'), { recursive: true });
    execFileSync('npm', ['prune', '--omit=dev', '--no-audit', '--no-fund', '--ignore-scripts'], {
      cwd: join(app, 'build'),
      stdio: 'ignore',
    });
    const copies = runtimeCopies(readFileSync(join(root, 'Dockerfile'), 'utf8'));
    assert.ok(copies.length >= 10, 'the Dockerfile has a second stage with COPY --from=build lines');
    for (const { from, to } of copies) {
      const src =
        from === 'node_modules' || from === 'package.json' ? join(app, 'build', from) : join(root, from);
      const dest = join(app, 'image', to.replace(/^\.\//, ''));
      if (from.includes('*')) {
        const dir = join(root, from.slice(0, from.lastIndexOf('/')));
        const suffix = from.slice(from.lastIndexOf('*') + 1);
        for (const f of readdirSync(dir).filter((n) => n.endsWith(suffix)))
          cpSync(join(dir, f), join(dest, f));
      } else cpSync(src, dest, { recursive: true });
    }
  });
  after(async () => {
    await cp?.stop();
    rmSync(app, { recursive: true, force: true });
  });

  it('has no dev dependency and every command loads', () => {
    const modules = readdirSync(join(app, 'image', 'node_modules'));
    for (const dev of ['typescript', 'tsx', 'eslint', 'fast-check', 'prettier'])
      assert.ok(!modules.includes(dev), `${dev} is not in the image`);
    const bollard = (...args: string[]) =>
      execFileSync(process.execPath, [join(app, 'image', 'bin', 'bollard.mjs'), ...args], {
        encoding: 'utf8',
      });
    assert.match(bollard('--help'), /controller[\s\S]*speaker[\s\S]*explain/);
    for (const cmd of ['controller', 'speaker', 'explain'])
      assert.match(bollard(cmd, '--help'), /Usage: bollard /);
    // The addons load from the image's paths.
    execFileSync(
      process.execPath,
      [
        '-e',
        "await import('./dist/net/packet.js').then((m) => m.PacketSocket); await import('./dist/net/tcp/index.js')",
      ],
      {
        cwd: join(app, 'image'),
        input: '',
      },
    );
  });

  it('the controller runs from the image and serves /healthz against a real apiserver', async () => {
    cp = await startControlPlane();
    const kubectl = (...args: string[]) =>
      execFileSync('kubectl', ['--kubeconfig', (cp as ControlPlane).adminKubeconfig, ...args], {
        stdio: 'ignore',
      });
    kubectl('apply', '-f', join(root, 'deploy', 'base', 'namespace.yaml'));
    kubectl('apply', '-k', join(root, 'deploy', 'crds'));
    const proc = ManagedProcess.start(
      process.execPath,
      [
        join(app, 'image', 'bin', 'bollard.mjs'),
        'controller',
        '--kubeconfig',
        cp.adminKubeconfig,
        '--metrics-bind',
        '127.0.0.1:17479',
      ],
      { name: 'controller (image)', logFile: join(app, 'controller.log') },
    );
    try {
      await proc.whileRunning(
        waitFor(
          'controller /healthz',
          async () =>
            (await get('http://127.0.0.1:17479/healthz').catch(() => 0)) === 200 ? true : undefined,
          30_000,
          200,
        ),
      );
    } finally {
      await proc.stop();
    }
  });
});
