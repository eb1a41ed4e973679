// `npm run image`: builds Bollard's image (and with --lab the lab's pause and web images) without a
// Docker daemon or Docker Hub, and prints where each archive is, its size and its layers.
//   npm run image                 docker.io/bollard/bollard:<version>
//   npm run image -- --lab        and localhost/bollard-lab/pause:<key>, localhost/bollard-lab/web:<key>
//   npm run image -- --json       the same as JSON
import { parseArgs } from 'node:util';
import type { BuiltImage } from './archive.js';
import { ensureBollardImage } from './bollard.js';
import { ensurePauseImage, ensureWebImage } from './lab-images.js';
import { describeError, type Result, type Say } from './result.js';

const say: Say = (line) => process.stderr.write(`[image] ${line}\n`);

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function summary(img: BuiltImage): string {
  const total = img.layers.reduce((a, b) => a + b, 0);
  return [
    img.ref,
    `  archive: ${img.archive} (docker-archive)`,
    `  size:    ${mb(total)} uncompressed, ${img.layers.length} layer${img.layers.length === 1 ? '' : 's'}: ${img.layers.map(mb).join(', ')}`,
    `  image:   ${img.id.slice(0, 12)}, ${img.built ? 'built now' : 'from the cache'}`,
  ].join('\n');
}

async function main(): Promise<number> {
  let json: boolean;
  let lab: boolean;
  try {
    const { values } = parseArgs({
      options: { lab: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
    });
    json = values.json === true;
    lab = values.lab === true;
  } catch (err) {
    say(err instanceof Error ? err.message : String(err));
    return 2;
  }
  if (process.getuid?.() !== 0) {
    say('must run as root (mmdebstrap and buildah build root filesystems and images)');
    return 1;
  }
  const steps: (() => Promise<Result<BuiltImage>>)[] = [() => ensureBollardImage(say)];
  if (lab)
    steps.push(
      () => ensurePauseImage(say),
      () => ensureWebImage(say),
    );
  const images: BuiltImage[] = [];
  for (const step of steps) {
    const r = await step();
    if (!r.ok) {
      say(`failed: ${describeError(r.error)}`);
      return 1;
    }
    images.push(r.value);
  }
  if (json) process.stdout.write(JSON.stringify(images, null, 2) + '\n');
  else process.stdout.write(images.map(summary).join('\n') + '\n');
  return 0;
}

process.exitCode = await main();
