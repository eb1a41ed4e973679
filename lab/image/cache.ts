// Where the image builder keeps what it made, and the keys that name it: a hash of every input, so
// a path exists only for the inputs that made it, and a second run finds it.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { cacheRoot } from '../toolchain.js';

/** ~/.cache/bollard/images (BOLLARD_CACHE and XDG_CACHE_HOME move it). */
export function imagesCache(...parts: string[]): string {
  return join(cacheRoot(), 'images', ...parts);
}

/** A short hex key over the given inputs, in order. */
export function keyOf(parts: ReadonlyArray<string | Buffer>): string {
  const h = createHash('sha256');
  for (const p of parts) {
    const b = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
    h.update(`${b.length}:`);
    h.update(b);
  }
  return h.digest('hex').slice(0, 16);
}

/** True when `rel` (a /-separated path below the root) is one an ignore list names, or lies under one. */
function ignored(rel: string, ignore: readonly string[]): boolean {
  return ignore.some((i) => rel === i || rel.startsWith(`${i}/`));
}

/**
 * A hash of the files under `root` at `paths` (files or folders), skipping `ignore` (root-relative
 * paths, as .dockerignore lists them): each file's path, executable bit, and content or link target.
 */
export function treeHash(root: string, paths: readonly string[], ignore: readonly string[] = []): string {
  const h = createHash('sha256');
  const visit = (abs: string): void => {
    const rel = relative(root, abs).split(sep).join('/');
    if (ignored(rel, ignore)) return;
    const st = lstatSync(abs);
    if (st.isDirectory()) {
      for (const name of readdirSync(abs).sort()) visit(join(abs, name));
    } else if (st.isSymbolicLink()) {
      h.update(`L ${rel} ${readlinkSync(abs)}\n`);
    } else if (st.isFile()) {
      h.update(`F ${rel} ${st.mode & 0o111 ? 'x' : '-'} ${st.size}\n`);
      h.update(readFileSync(abs));
    }
  };
  for (const p of [...paths].sort()) {
    const abs = join(root, p);
    if (existsSync(abs)) visit(abs);
    else h.update(`missing ${p}\n`);
  }
  return h.digest('hex');
}

/**
 * Removes the entries of `dir` whose names start with `prefix` (an older key's leftovers), except
 * `keep` and the `spare` most recently modified others (another checkout may be using them).
 */
export function removeOthers(dir: string, prefix: string, keep: readonly string[], spare = 0): void {
  if (!existsSync(dir)) return;
  const others = readdirSync(dir)
    .filter((name) => name.startsWith(prefix) && !keep.includes(name))
    .map((name) => ({ name, mtime: lstatSync(join(dir, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const { name } of others.slice(spare)) rmSync(join(dir, name), { recursive: true, force: true });
}
