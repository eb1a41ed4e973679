// One image made into an archive in the cache, under a path keyed by everything that went into it:
// when that archive is there, nothing is built; otherwise build, check, write, and note the facts.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { imageLayers, writeArchive } from './buildah.js';
import { imagesCache, removeOthers } from './cache.js';
import { fail, ok, type Result, type Say } from './result.js';
import { requireCommands } from './tools.js';

/** An image ready to be imported (`ctr -n k8s.io images import ARCHIVE`) or pushed (`skopeo copy`). */
export interface BuiltImage {
  /** The name it carries in the archive, which is the name containerd lists once it is imported. */
  ref: string;
  /** A docker-archive tarball (uncompressed layers). */
  archive: string;
  /** The key of its inputs (part of the archive's name). */
  key: string;
  /** Image ID: the digest of its config. */
  id: string;
  /** Each layer's size in bytes, uncompressed, base first. */
  layers: number[];
  /** True when this call built it; false when it came from the cache. */
  built: boolean;
}

export interface Recipe {
  /** Short name for progress lines: 'bollard', 'web', 'pause'. */
  name: string;
  /** The name in buildah's storage and in the archive. */
  ref: string;
  key: string;
  /** Archives of this image live in imagesCache(dir), named `${prefix}${key}.tar`. */
  dir: string;
  prefix: string;
  /** Builds `ref` into buildah's storage, logging to `log`. */
  build: (log: string) => Promise<Result<void>>;
  /** Checks the built image before it is written out. */
  verify?: () => Promise<Result<void>>;
}

type Facts = Omit<BuiltImage, 'built'>;

function readFacts(file: string): Facts | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Facts;
  } catch {
    return undefined;
  }
}

function archivePath(r: Pick<Recipe, 'dir' | 'prefix' | 'key'>): string {
  return join(imagesCache(r.dir), `${r.prefix}${r.key}.tar`);
}

/** The recipe's archive when the cache holds it for these inputs; nothing is built. */
export function cachedArchive(r: Pick<Recipe, 'ref' | 'dir' | 'prefix' | 'key'>): BuiltImage | undefined {
  const archive = archivePath(r);
  const facts = existsSync(archive) ? readFacts(`${archive}.json`) : undefined;
  return facts && facts.ref === r.ref && facts.key === r.key
    ? { ...facts, archive, built: false }
    : undefined;
}

/** The recipe's archive: from the cache when its inputs have not changed, else built now. */
export async function ensureArchive(r: Recipe, say: Say): Promise<Result<BuiltImage>> {
  const cached = cachedArchive(r);
  if (cached) return ok(cached);
  const dir = imagesCache(r.dir);
  const archive = archivePath(r);
  const archiveName = basename(archive);
  const factsFile = `${archive}.json`;
  const tools = requireCommands(`${r.name}: build`, ['buildah', 'runc', 'nice']);
  if (!tools.ok) return tools;
  const log = imagesCache('logs', `${r.prefix}${r.key}.log`);
  const started = Date.now();
  say(`${r.name}: building ${r.ref} (log: ${log})`);
  const built = await r.build(log);
  if (!built.ok) return built;
  if (r.verify) {
    const checked = await r.verify();
    if (!checked.ok) return checked;
  }
  const layers = await imageLayers(r.ref);
  if (!layers.ok) return layers;
  mkdirSync(dir, { recursive: true });
  const written = await writeArchive(r.ref, archive, r.ref, log);
  if (!written.ok) return written;
  const facts: Facts = { ref: r.ref, archive, key: r.key, id: layers.value.id, layers: layers.value.layers };
  try {
    writeFileSync(factsFile, JSON.stringify(facts, null, 2) + '\n');
  } catch (err) {
    return fail(`${r.name}: write ${factsFile}`, err instanceof Error ? err.message : String(err));
  }
  // Two older archives (and logs) stay: another checkout of the repository may be building its own sources.
  removeOthers(dir, r.prefix, [archiveName, `${archiveName}.json`], 4);
  removeOthers(imagesCache('logs'), r.prefix, [basename(log)], 2);
  say(`${r.name}: built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return ok({ ...facts, built: true });
}
