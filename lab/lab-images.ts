// The images real lab nodes run — the pod sandbox (pause), Bollard's own and the demo web server — from
// lab/image's cache, built there first when an input changed (`npm run image -- --lab` does the same).
import { LabError } from './errors.js';
import { describeError, ensureImages } from './image/index.js';
import type { LabImages } from './lab.js';

export async function labImages(say: (line: string) => void): Promise<LabImages> {
  const r = await ensureImages(say);
  if (!r.ok) throw new LabError('images', describeError(r.error));
  const { bollard, web, pause } = r.value;
  return {
    pause: { ref: pause.ref, archive: pause.archive },
    others: [bollard, web].map((i) => ({ ref: i.ref, archive: i.archive })),
    bollard: bollard.ref,
    web: web.ref,
  };
}
