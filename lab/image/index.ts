// The image builder's API for the lab and `npm run image`: every image the lab's nodes run, each as an
// archive in the cache, rebuilt only when its inputs changed.
import { ensureBollardImage } from './bollard.js';
import { ensurePauseImage, ensureWebImage } from './lab-images.js';
import { ok, type Result, type Say } from './result.js';
import type { BuiltImage } from './archive.js';

export type { BuiltImage } from './archive.js';
export type { ImageError, Result, Say } from './result.js';
export { describeError } from './result.js';
export { bollardRef, cachedBollardImage, ensureBollardImage, packageVersion } from './bollard.js';
export { baseRefs, ensureBases, type Bases } from './bases.js';
export { ensurePauseImage, ensureWebImage } from './lab-images.js';

export interface LabImages {
  /** docker.io/bollard/bollard:<version>: what the chart and deploy/ run. */
  bollard: BuiltImage;
  /** localhost/bollard-lab/web:<key>: the demo workload. */
  web: BuiltImage;
  /** localhost/bollard-lab/pause:<key>: containerd's sandbox_image. */
  pause: BuiltImage;
}

const defaultSay: Say = (line) => process.stderr.write(`[image] ${line}\n`);

/**
 * Bollard's image and the lab's two, each from the cache when its inputs did not change (no buildah call
 * then), else built: the first time takes minutes (the bases, `npm ci`), a source change well under one.
 */
export async function ensureImages(say: Say = defaultSay): Promise<Result<LabImages>> {
  const bollard = await ensureBollardImage(say);
  if (!bollard.ok) return bollard;
  const pause = await ensurePauseImage(say);
  if (!pause.ok) return pause;
  const web = await ensureWebImage(say);
  if (!web.ok) return web;
  return ok({ bollard: bollard.value, web: web.value, pause: pause.value });
}
