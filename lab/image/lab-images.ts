// The lab's two small images, built like Bollard's from a Containerfile in lab/images/<name>/:
//   localhost/bollard-lab/pause:<key>  containerd's pod sandbox (sandbox_image): a static C program, from scratch
//   localhost/bollard-lab/web:<key>    the demo workload: the runtime base and one dependency-free server script
// Tagged by the key of their inputs, so a node's containerd never holds a stale image under a current name.
import { existsSync, readdirSync } from 'node:fs';
import { repoPath } from '../repo.js';
import { ensureArchive, type BuiltImage } from './archive.js';
import { baseRefs, ensureBases } from './bases.js';
import { bud, removeStaleTags } from './buildah.js';
import { imagesCache, keyOf, treeHash } from './cache.js';
import { IMAGES_VERSION } from './pins.js';
import { fail, type Result, type Say } from './result.js';

type LabImage = 'pause' | 'web';

const DESCRIPTIONS: Record<LabImage, string> = {
  pause: "Bollard lab's pod sandbox (containerd's sandbox_image)",
  web: "Bollard lab's demo web server",
};

async function labImage(
  name: LabImage,
  baseKey: string,
  buildArgs: Record<string, string>,
  say: Say,
): Promise<Result<BuiltImage>> {
  const context = repoPath('lab', 'images', name);
  let key: string;
  try {
    key = keyOf([IMAGES_VERSION, baseKey, treeHash(context, readdirSync(context))]);
  } catch (err) {
    return fail(`${name}: read ${context}`, err instanceof Error ? err.message : String(err));
  }
  const ref = `localhost/bollard-lab/${name}:${key}`;
  return ensureArchive(
    {
      name,
      ref,
      key,
      dir: 'lab',
      prefix: `${name}-`,
      build: async (log) => {
        const ready = await ensureBases(say);
        if (!ready.ok) return ready;
        const built = await bud({
          containerfile: repoPath('lab', 'images', name, 'Containerfile'),
          context,
          tag: ref,
          buildArgs,
          labels: { 'org.opencontainers.image.description': DESCRIPTIONS[name] },
          network: 'none',
          log,
        });
        if (!built.ok) return built;
        // Images whose archive the cache no longer keeps (lab/image/archive.ts keeps two older ones).
        const repo = ref.slice(0, ref.lastIndexOf(':'));
        return removeStaleTags(
          repo,
          (tag) => tag !== key && !existsSync(imagesCache('lab', `${name}-${tag}.tar`)),
        );
      },
    },
    say,
  );
}

/** The pod sandbox image, compiled in the build base (Debian's gcc, static glibc). */
export function ensurePauseImage(say: Say): Promise<Result<BuiltImage>> {
  const bases = baseRefs();
  return labImage('pause', bases.buildBase.key, { BUILD_BASE: bases.buildBase.ref }, say);
}

/** The demo web server image, on the runtime base. */
export function ensureWebImage(say: Say): Promise<Result<BuiltImage>> {
  const bases = baseRefs();
  return labImage('web', bases.base.key, { BASE: bases.base.ref }, say);
}
