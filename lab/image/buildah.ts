// The few buildah operations the image builder uses: import a root filesystem as an image, build a
// Containerfile, run a command in an image, write an image to an archive, read an image's layers.
// buildah runs as root with runc, on a storage of its own in the cache (imagesCache('storage')):
// nothing of the machine's /var/lib/containers is read or changed, and removing the cache removes
// every image, layer and intermediate build step the builder made.
import { renameSync, rmSync } from 'node:fs';
import { imagesCache, keyOf } from './cache.js';
import { run, type RunOptions } from './exec.js';
import { fail, ok, type Result } from './result.js';

/** `buildah --root … --runroot …` on the builder's own storage. */
function buildah(args: readonly string[], o: RunOptions): Promise<Result<string>> {
  const root = imagesCache('storage');
  const runroot = `/run/bollard-buildah-${keyOf([root]).slice(0, 8)}`;
  return run('buildah', ['--root', root, '--runroot', runroot, '--storage-driver', 'overlay', ...args], o);
}

/** True when the local storage holds an image by that name. */
export async function imageExists(ref: string): Promise<boolean> {
  const r = await buildah(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', ref], {
    step: `buildah inspect ${ref}`,
  });
  return r.ok;
}

export interface ImageConfig {
  env: Record<string, string>;
  cmd?: readonly string[];
  labels?: Record<string, string>;
}

/** An image of one layer holding the root filesystem in `tar`, named `ref`. */
export async function importRootfs(
  tar: string,
  ref: string,
  config: ImageConfig,
  log: string,
): Promise<Result<void>> {
  const step = `import ${ref}`;
  const from = await buildah(['from', '--quiet', 'scratch'], { step });
  if (!from.ok) return from;
  const container = from.value.trim();
  const steps: string[][] = [
    ['add', '--quiet', container, tar, '/'],
    [
      'config',
      ...Object.entries(config.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
      ...(config.cmd ? ['--cmd', JSON.stringify(config.cmd)] : []),
      ...Object.entries(config.labels ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      container,
    ],
    ['commit', '--quiet', '--rm', container, ref],
  ];
  for (const args of steps) {
    const r = await buildah(args, { step, log, nice: true });
    if (!r.ok) {
      await buildah(['rm', container], { step });
      return r;
    }
  }
  return ok(undefined);
}

export interface BudOptions {
  containerfile: string;
  context: string;
  tag: string;
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  /** Bind mounts for RUN steps only (`host:container:ro`); nothing of them is committed. */
  volumes?: readonly string[];
  /** 'host' for a build that reaches a registry; 'none' for one that needs nothing. */
  network: 'host' | 'none';
  log: string;
}

/** `buildah bud` with its intermediate layers cached, so a second build reuses unchanged steps. */
export async function bud(o: BudOptions): Promise<Result<void>> {
  const args = [
    'bud',
    '--layers',
    '--pull=never',
    `--network=${o.network}`,
    '--file',
    o.containerfile,
    '--tag',
    o.tag,
    ...Object.entries(o.buildArgs ?? {}).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
    ...Object.entries(o.labels ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    ...(o.volumes ?? []).flatMap((v) => ['--volume', v]),
    o.context,
  ];
  const r = await buildah(args, { step: `buildah bud ${o.tag}`, log: o.log, nice: true });
  return r.ok ? ok(undefined) : r;
}

/** Runs `argv` in a throwaway container of `ref` (as the image's user); resolves to its stdout. */
export async function runInImage(ref: string, argv: readonly string[]): Promise<Result<string>> {
  const step = `run ${argv.join(' ')} in ${ref}`;
  const from = await buildah(['from', '--quiet', '--pull=never', ref], { step });
  if (!from.ok) return from;
  const container = from.value.trim();
  const r = await buildah(['run', '--network=none', container, '--', ...argv], { step });
  await buildah(['rm', container], { step });
  return r;
}

/**
 * Writes the image to a docker-archive (uncompressed layers) naming it `name`, which is what
 * `ctr images import` and `skopeo copy docker-archive:…` read. Written aside, then renamed.
 */
export async function writeArchive(
  ref: string,
  archive: string,
  name: string,
  log: string,
): Promise<Result<void>> {
  const tmp = `${archive}.partial-${process.pid}`;
  rmSync(tmp, { force: true });
  const r = await buildah(['push', '--quiet', ref, `docker-archive:${tmp}:${name}`], {
    step: `write ${name} to ${archive}`,
    log,
    nice: true,
  });
  if (!r.ok) {
    rmSync(tmp, { force: true });
    return r;
  }
  renameSync(tmp, archive);
  return ok(undefined);
}

export interface ImageLayers {
  /** Image ID (the config's digest). */
  id: string;
  /** Each layer's size, uncompressed, base first. */
  layers: number[];
}

/** The image's ID and layer sizes, from its manifest in local storage. */
export async function imageLayers(ref: string): Promise<Result<ImageLayers>> {
  const step = `buildah inspect ${ref}`;
  const r = await buildah(['inspect', '--type', 'image', ref], { step });
  if (!r.ok) return r;
  try {
    const info = JSON.parse(r.value) as { FromImageID?: string; Manifest?: string };
    const manifest = JSON.parse(info.Manifest ?? '{}') as { layers?: { size?: number }[] };
    return ok({ id: info.FromImageID ?? '', layers: (manifest.layers ?? []).map((l) => l.size ?? 0) });
  } catch (err) {
    return fail(step, `unreadable output: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Removes the images of `repo` (`name` without a tag) from the builder's storage whose tag `stale` says is. */
export async function removeStaleTags(repo: string, stale: (tag: string) => boolean): Promise<Result<void>> {
  const step = `remove older ${repo} images`;
  const listed = await buildah(
    ['images', '--format', '{{.Name}}:{{.Tag}}', '--filter', `reference=${repo}`],
    {
      step,
    },
  );
  if (!listed.ok) return listed;
  for (const line of listed.value.split('\n')) {
    const ref = line.trim();
    if (!ref.startsWith(`${repo}:`) || !stale(ref.slice(repo.length + 1))) continue;
    const r = await buildah(['rmi', ref], { step });
    if (!r.ok) return r;
  }
  return ok(undefined);
}
