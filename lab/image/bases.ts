// The two base images, as local images in buildah's storage, keyed by their inputs:
//   localhost/bollard-base:<key>        the runtime (Dockerfile's BASE)
//   localhost/bollard-build-base:<key>  stage 1 (Dockerfile's BUILD_BASE)
// Each root filesystem is kept as a tarball in the cache, so an emptied image store re-imports it
// in seconds; only a change of pins (lab/image/pins.ts) runs mmdebstrap again.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { imageExists, importRootfs, removeStaleTags } from './buildah.js';
import { imagesCache, keyOf, removeOthers } from './cache.js';
import { debianSources } from './debian.js';
import { unpackedNpmPackage } from './npm-dist.js';
import {
  BUILD_PACKAGES,
  BASES_VERSION,
  DEBIAN_SUITE,
  NODE,
  NPM,
  RUNTIME_PACKAGES,
  type NpmPin,
} from './pins.js';
import { ok, type Result, type Say } from './result.js';
import { buildRootfs, runtimeRootfs, type RootfsInputs } from './rootfs.js';
import { requireCommands } from './tools.js';

export interface Base {
  ref: string;
  key: string;
}

export interface Bases {
  base: Base;
  buildBase: Base;
}

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function pinText(p: NpmPin): string {
  return `${p.name}@${p.version} ${p.integrity}`;
}

function baseKey(kind: string, packages: readonly string[], pins: readonly NpmPin[]): string {
  return keyOf([BASES_VERSION, kind, DEBIAN_SUITE, packages.join(','), ...pins.map(pinText)]);
}

/** The bases' names for the current pins, whether built or not. */
export function baseRefs(): Bases {
  const runtime = baseKey('runtime', RUNTIME_PACKAGES, [NODE]);
  const build = baseKey('build', BUILD_PACKAGES, [NODE, NPM]);
  return {
    base: { ref: `localhost/bollard-base:${runtime}`, key: runtime },
    buildBase: { ref: `localhost/bollard-build-base:${build}`, key: build },
  };
}

type Kind = 'base' | 'build-base';

async function ensureBase(kind: Kind, base: Base, say: Say): Promise<Result<boolean>> {
  if (await imageExists(base.ref)) return ok(false);
  const dir = imagesCache('bases');
  mkdirSync(dir, { recursive: true });
  const tarName = `${kind}-${base.key}.tar`;
  const tar = join(dir, tarName);
  const log = imagesCache('logs', `${kind}-${base.key}.log`);
  if (!existsSync(tar)) {
    const tools = requireCommands(`${kind}: root filesystem`, ['mmdebstrap', 'tar']);
    if (!tools.ok) return tools;
    const node = await unpackedNpmPackage(NODE, imagesCache('npm'), say);
    if (!node.ok) return node;
    const sources = debianSources(DEBIAN_SUITE);
    const inputs: RootfsInputs = {
      suite: DEBIAN_SUITE,
      sources: sources.lines,
      packages: kind === 'base' ? RUNTIME_PACKAGES : BUILD_PACKAGES,
      node: node.value,
      log,
    };
    const started = Date.now();
    say(
      `${kind}: mmdebstrap ${DEBIAN_SUITE} from ${sources.fromHost ? "the host's APT sources" : 'deb.debian.org'}` +
        ` + Node.js ${NODE.version}${kind === 'build-base' ? ` + npm ${NPM.version}` : ''} (first time only)`,
    );
    let made: Result<void>;
    if (kind === 'base') made = await runtimeRootfs(tar, inputs);
    else {
      const npm = await unpackedNpmPackage(NPM, imagesCache('npm'), say);
      if (!npm.ok) return npm;
      made = await buildRootfs(tar, { ...inputs, npm: npm.value });
    }
    if (!made.ok) return made;
    say(`${kind}: root filesystem in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    // One older base stays, with its image: another checkout may pin other versions.
    removeOthers(dir, `${kind}-`, [tarName], 1);
  }
  const imported = await importRootfs(
    tar,
    base.ref,
    {
      env: { PATH },
      cmd: ['node'],
      labels: {
        'org.opencontainers.image.description': `Bollard's ${kind === 'base' ? 'runtime' : 'build'} base: Debian ${DEBIAN_SUITE} and Node.js ${NODE.version}`,
        'dev.bollard.base.key': base.key,
      },
    },
    log,
  );
  if (!imported.ok) return imported;
  say(`${kind}: imported as ${base.ref}`);
  const repo = base.ref.slice(0, base.ref.lastIndexOf(':'));
  const removed = await removeStaleTags(repo, (tag) => !existsSync(join(dir, `${kind}-${tag}.tar`)));
  if (!removed.ok) return removed;
  return ok(true);
}

/** Both bases in buildah's storage; built or imported only when missing. */
export async function ensureBases(say: Say): Promise<Result<Bases>> {
  const refs = baseRefs();
  const base = await ensureBase('base', refs.base, say);
  if (!base.ok) return base;
  const build = await ensureBase('build-base', refs.buildBase, say);
  if (!build.ok) return build;
  return ok(refs);
}
