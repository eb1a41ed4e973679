// The runtime image, two ways.
// 1. Its contents as the Dockerfile says, without building it: stage 1 compiles only the source folders it
//    copies from the context, stage 2 copies what its `COPY --from=build` lines name. Those files are
//    assembled in a folder from this checkout's build (production dependencies only, as
//    `npm prune --omit=dev` leaves them), and `bollard` runs from there: every command's help loads
//    without lab/, a dev dependency or a source file, and the controller gets ready (/readyz) against a
//    real apiserver.
// 2. The image `npm run image` built, when the cache holds it for these sources (the test never builds
//    it: that takes minutes): unpacked with skopeo and umoci, its files checked, and run with runc as
//    its own config says (user 65532, Node.js 24), on a read-only root filesystem with no capability,
//    on the host network: the controller gets ready against the same apiserver.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { request } from 'node:http';
import { repoRoot } from '../../lab/repo.js';
import { startControlPlane, type ControlPlane } from '../../lab/controlplane.js';
import { ManagedProcess, waitFor } from '../../lab/process.js';
import { cachedBollardImage, copiedPaths } from '../../lab/image/bollard.js';
import type { BuiltImage } from '../../lab/image/archive.js';

// (@types/node is not here: @kubernetes/client-node depends on it.)
const DEV_DEPENDENCIES = ['typescript', 'tsx', 'eslint', 'fast-check', 'prettier', 'typescript-eslint'];

/** The second stage's `COPY --from=build /src/X DEST` lines, read from the Dockerfile so the test follows it. */
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

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) visit(p);
      else out.push(relative(dir, p));
    }
  };
  visit(dir);
  return out;
}

/** The checks both ways share: what /app holds, and what it must not. */
function checkAppTree(app: string): void {
  assert.deepEqual(readdirSync(app).sort(), ['bin', 'dist', 'net', 'node_modules', 'package.json']);
  const dist = readdirSync(join(app, 'dist'));
  for (const absent of ['lab', 'test', 'bench']) assert.ok(!dist.includes(absent), `no dist/${absent}`);
  const ours = filesUnder(app).filter((f) => !f.startsWith('node_modules/'));
  assert.deepEqual(
    ours.filter((f) => f.endsWith('.ts')),
    [],
    'no TypeScript source',
  );
  assert.deepEqual(ours.filter((f) => f.endsWith('.node')).sort(), [
    'net/addon/build/Release/bollard_packet.node',
    'net/tcp/build/Release/bollard_tcp.node',
  ]);
  const modules = readdirSync(join(app, 'node_modules'));
  const types = existsSync(join(app, 'node_modules', '@types'))
    ? readdirSync(join(app, 'node_modules', '@types')).map((t) => `@types/${t}`)
    : [];
  for (const dev of DEV_DEPENDENCIES)
    assert.ok(!modules.includes(dev) && !types.includes(dev), `${dev} is not in the image`);
}

async function controllerReady(proc: ManagedProcess, port: number): Promise<void> {
  try {
    await proc.whileRunning(
      waitFor(
        'controller /readyz (its informers synced from the apiserver)',
        async () =>
          (await get(`http://127.0.0.1:${port}/readyz`).catch(() => 0)) === 200 ? true : undefined,
        30_000,
        200,
      ),
    );
  } finally {
    await proc.stop();
  }
}

describe('the runtime image', () => {
  const root = repoRoot();
  const work = mkdtempSync(join(tmpdir(), 'bollard-image-'));
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  let cp: ControlPlane | undefined;
  const controlPlane = async (): Promise<ControlPlane> => {
    if (cp) return cp;
    const started = await startControlPlane();
    cp = started;
    const kubectl = (...args: string[]) =>
      execFileSync('kubectl', ['--kubeconfig', started.adminKubeconfig, ...args], { stdio: 'ignore' });
    kubectl('apply', '-f', join(root, 'deploy', 'base', 'namespace.yaml'));
    kubectl('apply', '-k', join(root, 'deploy', 'crds'));
    return started;
  };
  after(async () => {
    await cp?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  describe('its contents as the Dockerfile says (assembled from this build)', () => {
    const app = join(work, 'assembled', 'app');

    before(() => {
      // Stage 1's result: the folders of dist/ compiled from the sources stage 1 copies, production
      // dependencies only, the addons.
      const stage1 = join(work, 'assembled', 'src');
      cpSync(join(root, 'package.json'), join(stage1, 'package.json'));
      cpSync(join(root, 'package-lock.json'), join(stage1, 'package-lock.json'));
      cpSync(join(root, 'node_modules'), join(stage1, 'node_modules'), { recursive: true });
      execFileSync('npm', ['prune', '--omit=dev', '--no-audit', '--no-fund', '--ignore-scripts'], {
        cwd: stage1,
        stdio: 'ignore',
      });
      cpSync(join(root, 'bin'), join(stage1, 'bin'), { recursive: true });
      const compiled = copiedPaths(dockerfile).filter((p) => existsSync(join(root, 'dist', p)));
      assert.ok(
        compiled.includes('cli') && compiled.includes('controller'),
        'stage 1 compiles cli/ and controller/',
      );
      for (const p of compiled) cpSync(join(root, 'dist', p), join(stage1, 'dist', p), { recursive: true });
      for (const addon of ['net/addon/build/Release', 'net/tcp/build/Release'])
        cpSync(join(root, addon), join(stage1, addon), { recursive: true });
      // Stage 2.
      const copies = runtimeCopies(dockerfile);
      assert.ok(copies.length >= 5, 'the Dockerfile has a second stage with COPY --from=build lines');
      for (const { from, to } of copies) {
        const dest = join(app, to.replace(/^\.\//, ''));
        const src = join(stage1, from);
        if (to.endsWith('/')) {
          mkdirSync(dest, { recursive: true });
          copyFileSync(src, join(dest, from.slice(from.lastIndexOf('/') + 1)));
        } else cpSync(src, dest, { recursive: true });
      }
    });

    it('holds production dependencies, the compiled programs and the addons, and no lab/, test/, bench/', () => {
      checkAppTree(app);
    });

    it('every command loads without lab/ or a dev dependency, and the addons load', () => {
      const bollard = (...args: string[]) =>
        spawnSync(process.execPath, [join(app, 'bin', 'bollard.mjs'), ...args], { encoding: 'utf8' });
      assert.match(bollard('--help').stdout, /controller[\s\S]*speaker[\s\S]*explain[\s\S]*lab/);
      for (const cmd of ['controller', 'speaker', 'explain'])
        assert.match(bollard(cmd, '--help').stdout, /Usage: bollard /);
      const lab = bollard('lab', 'up');
      assert.equal(lab.status, 1);
      assert.match(lab.stderr, /the lab is not part of this installation/);
      execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          "const t = await import('./dist/net/tcp/index.js'); await import('./dist/net/packet.js');" +
            " if (!t.tcpAddonAvailable()) throw new Error('TCP addon not loaded')",
        ],
        { cwd: app },
      );
    });

    it('the controller runs from it and is ready against a real apiserver', async () => {
      const plane = await controlPlane();
      const proc = ManagedProcess.start(
        process.execPath,
        [
          join(app, 'bin', 'bollard.mjs'),
          'controller',
          '--kubeconfig',
          plane.adminKubeconfig,
          '--metrics-bind',
          '127.0.0.1:17479',
        ],
        { name: 'controller (assembled image)', logFile: join(work, 'controller-assembled.log') },
      );
      await controllerReady(proc, 17479);
    });
  });

  describe('the image `npm run image` built, when the cache has it for these sources', () => {
    const tools = ['skopeo', 'umoci', 'runc'].filter(
      (t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0,
    );
    const image: BuiltImage | undefined = cachedBollardImage();
    const skip =
      process.getuid?.() !== 0
        ? 'needs root (runc)'
        : tools.length > 0
          ? `missing ${tools.join(', ')}`
          : image === undefined
            ? 'no image for these sources in the cache (`npm run image` builds it)'
            : false;
    const bundle = join(work, 'bundle');
    const containers: string[] = [];
    type Spec = {
      process: {
        terminal?: boolean;
        args: string[];
        user: { uid: number };
        env: string[];
        capabilities?: unknown;
      };
      root: { readonly?: boolean };
      mounts: unknown[];
      linux: { namespaces: { type: string }[] };
    };
    /** The runtime config umoci made from the image's config (user, env, working folder, entrypoint). */
    const imageSpec = (): Spec => JSON.parse(readFileSync(join(bundle, 'config.umoci.json'), 'utf8')) as Spec;

    /** Writes config.json for a run of `args`, as a pod of deploy/ runs the image, on the host network. */
    const configure = (args: string[], mounts: { source: string; destination: string }[] = []): void => {
      const c = imageSpec();
      c.process.terminal = false;
      c.process.args = args;
      // deploy/ drops every capability but what each program needs; the controller needs none.
      c.process.capabilities = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] };
      c.root.readonly = true; // readOnlyRootFilesystem
      c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'network'); // the host's loopback
      for (const m of mounts)
        c.mounts.push({ ...m, type: 'bind', options: ['bind', 'ro', 'nosuid', 'nodev'] });
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(c));
    };
    const containerId = (): string => {
      const id = `bollard-image-test-${process.pid}-${containers.length}`;
      containers.push(id);
      return id;
    };
    /** Runs `args` in a container of the image; its stdout. */
    const run = (args: string[]): string => {
      configure(args);
      return execFileSync('runc', ['run', '--bundle', bundle, containerId()], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 30_000,
      });
    };
    const bollard = (...args: string[]): string[] => [...imageSpec().process.args, ...args];

    before(() => {
      if (skip || !image) return;
      const oci = `${join(work, 'oci')}:bollard`;
      execFileSync('skopeo', ['copy', '--quiet', `docker-archive:${image.archive}`, `oci:${oci}`]);
      execFileSync('umoci', ['unpack', '--image', oci, bundle], { stdio: 'ignore' });
      copyFileSync(join(bundle, 'config.json'), join(bundle, 'config.umoci.json'));
    });
    after(() => {
      for (const id of containers) spawnSync('runc', ['delete', '--force', id], { stdio: 'ignore' });
    });

    it('holds /app as the Dockerfile says; runs bollard as 65532 with NODE_ENV=production', { skip }, () => {
      checkAppTree(join(bundle, 'rootfs', 'app'));
      const spec = imageSpec();
      assert.deepEqual(spec.process.args, ['node', '/app/bin/bollard.mjs']);
      assert.equal(spec.process.user.uid, 65532, 'runs as 65532 unless the pod says otherwise');
      assert.ok(spec.process.env.includes('NODE_ENV=production'));
    });

    it('every command loads in it, on Node.js 24', { skip }, () => {
      assert.match(run(['node', '--version']).trim(), /^v24\./);
      const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
      assert.equal(run(bollard('--version')).trim(), pkg.version);
      for (const cmd of ['controller', 'speaker', 'explain'])
        assert.match(run(bollard(cmd, '--help')), new RegExp(`Usage: bollard ${cmd}`));
    });

    it(
      'the controller runs in it (user 65532, read-only root, no capability), ready against a real apiserver',
      { skip },
      async () => {
        const plane = await controlPlane();
        const kubeconfig = join(work, 'kubeconfig');
        copyFileSync(plane.adminKubeconfig, kubeconfig);
        chmodSync(kubeconfig, 0o644);
        configure(
          bollard(
            'controller',
            '--kubeconfig',
            '/etc/bollard/kubeconfig',
            '--metrics-bind',
            '127.0.0.1:17480',
          ),
          [{ source: kubeconfig, destination: '/etc/bollard/kubeconfig' }],
        );
        const proc = ManagedProcess.start('runc', ['run', '--bundle', bundle, containerId()], {
          name: 'controller (image)',
          logFile: join(work, 'controller-image.log'),
        });
        await controllerReady(proc, 17480);
      },
    );
  });
});
