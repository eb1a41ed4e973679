// Bollard's own image, built from the repository's Dockerfile on the two local bases:
//   docker.io/bollard/bollard:<package.json version>
// Its key covers the Dockerfile, .dockerignore, every file the Dockerfile copies from the context,
// the bases' keys and the version, so any change there (and only there) builds it again.
import { existsSync, readFileSync } from 'node:fs';
import { repoPath } from '../repo.js';
import { bud, runInImage } from './buildah.js';
import { cachedArchive, ensureArchive, type BuiltImage, type Recipe } from './archive.js';
import { baseRefs, ensureBases } from './bases.js';
import { keyOf, treeHash } from './cache.js';
import { npmBuildVolumes } from './npm-config.js';
import { IMAGES_VERSION } from './pins.js';
import { fail, ok, type Result, type Say } from './result.js';

/** The version in package.json: the image's tag and the Helm chart's appVersion. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string }).version;
}

/** The image's name, as `docker build -t bollard/bollard:<version>` would give it, fully qualified. */
export function bollardRef(version = packageVersion()): string {
  return `docker.io/bollard/bollard:${version}`;
}

/** The context paths the Dockerfile's `COPY` lines (those not `--from` a stage) read. */
export function copiedPaths(dockerfile: string): string[] {
  const paths = new Set<string>();
  for (const m of dockerfile.matchAll(/^COPY\s+(.+)$/gm)) {
    const words = (m[1] as string).trim().split(/\s+/);
    if (words.some((w) => w.startsWith('--from'))) continue;
    for (const src of words.filter((w) => !w.startsWith('--')).slice(0, -1))
      paths.add(src.replace(/^\.\//, '').replace(/\/$/, ''));
  }
  return [...paths].sort();
}

/** .dockerignore's entries as root-relative paths (patterns with wildcards are kept literally). */
function dockerignore(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('!'))
    .map((l) => l.replace(/^\/+/, '').replace(/\/+$/, ''));
}

function expectOutput(r: Result<string>, pattern: RegExp, what: string): Result<void> {
  if (!r.ok) return r;
  return pattern.test(r.value)
    ? ok(undefined)
    : fail('verify', `${what}: unexpected output ${JSON.stringify(r.value.slice(0, 200))}`);
}

/** How Bollard's image is made: its name, the key of its inputs, the build and the checks. */
function bollardRecipe(say: Say): Recipe {
  const root = repoPath();
  const bases = baseRefs();
  const version = packageVersion();
  const ref = bollardRef(version);
  const dockerfile = readFileSync(repoPath('Dockerfile'), 'utf8');
  const ignoreFile = repoPath('.dockerignore');
  const ignoreText = existsSync(ignoreFile) ? readFileSync(ignoreFile, 'utf8') : '';
  const key = keyOf([
    IMAGES_VERSION,
    bases.base.key,
    bases.buildBase.key,
    version,
    dockerfile,
    ignoreText,
    treeHash(root, copiedPaths(dockerfile), dockerignore(ignoreText)),
  ]);
  const bollard = ['node', '/app/bin/bollard.mjs'];
  return {
    name: 'bollard',
    ref,
    key,
    dir: 'bollard',
    prefix: `bollard-${version}-`,
    build: async (log) => {
      const ready = await ensureBases(say);
      if (!ready.ok) return ready;
      const volumes = await npmBuildVolumes();
      if (!volumes.ok) return volumes;
      return bud({
        containerfile: repoPath('Dockerfile'),
        context: root,
        tag: ref,
        buildArgs: { BUILD_BASE: bases.buildBase.ref, BASE: bases.base.ref },
        labels: {
          'org.opencontainers.image.description':
            'Bollard: bare-metal LoadBalancer for Kubernetes (bollard controller, bollard speaker)',
          'org.opencontainers.image.version': version,
          'dev.bollard.source.key': key,
        },
        volumes: volumes.value,
        network: 'host', // stage 1's `npm ci` reaches the registry as the host does
        log,
      });
    },
    verify: async () => {
      const checks: [string[], RegExp][] = [
        [['--version'], new RegExp(`^${version.replace(/\./g, '\\.')}\\s*$`)],
        [['controller', '--help'], /Usage: bollard controller/],
        [['speaker', '--help'], /Usage: bollard speaker/],
      ];
      for (const [args, pattern] of checks) {
        const out = await runInImage(ref, [...bollard, ...args]);
        const r = expectOutput(out, pattern, `bollard ${args.join(' ')}`);
        if (!r.ok) return r;
      }
      return ok(undefined);
    },
  };
}

/** Bollard's image archive: from the cache when nothing it is made of changed, else built now. */
export async function ensureBollardImage(say: Say): Promise<Result<BuiltImage>> {
  let recipe: Recipe;
  try {
    recipe = bollardRecipe(say);
  } catch (err) {
    return fail('bollard: read the sources', err instanceof Error ? err.message : String(err));
  }
  return ensureArchive(recipe, say);
}

/** Bollard's image archive for the current sources if the cache holds it (never builds). */
export function cachedBollardImage(): BuiltImage | undefined {
  return cachedArchive(bollardRecipe(() => undefined));
}
