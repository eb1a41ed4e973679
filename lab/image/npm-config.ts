// What a build's `npm ci` needs of the host's npm settings to reach the registry the host reaches:
// its registry (when not the default) and its CA file (a TLS-inspecting proxy's CA, say). They reach
// the build's RUN steps as read-only bind mounts of an npmrc at npm's global config path
// (/usr/local/etc/npmrc, node's prefix in both the official images and ours); no layer keeps them.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { run } from './exec.js';
import { imagesCache } from './cache.js';
import { ok, type Result } from './result.js';

const DEFAULT_REGISTRY = 'https://registry.npmjs.org/';
const CA_IN_BUILD = '/usr/local/etc/npm-build-ca.crt';

async function npmConfig(key: string): Promise<Result<string | undefined>> {
  const r = await run('npm', ['config', 'get', key], { step: `npm config get ${key}` });
  if (!r.ok) return r;
  const v = r.value.trim();
  return ok(v === '' || v === 'null' || v === 'undefined' ? undefined : v);
}

/** `--volume` arguments for `buildah bud` (none when the host uses npm's defaults). */
export async function npmBuildVolumes(): Promise<Result<string[]>> {
  const registry = await npmConfig('registry');
  if (!registry.ok) return registry;
  const cafile = await npmConfig('cafile');
  if (!cafile.ok) return cafile;
  const lines: string[] = [];
  const volumes: string[] = [];
  if (registry.value && registry.value !== DEFAULT_REGISTRY) lines.push(`registry=${registry.value}`);
  if (cafile.value && existsSync(cafile.value)) {
    lines.push(`cafile=${CA_IN_BUILD}`);
    volumes.push(`${cafile.value}:${CA_IN_BUILD}:ro`);
  }
  if (lines.length === 0) return ok([]);
  const npmrc = imagesCache('npm-build', 'npmrc');
  mkdirSync(imagesCache('npm-build'), { recursive: true });
  writeFileSync(npmrc, lines.join('\n') + '\n');
  return ok([`${npmrc}:/usr/local/etc/npmrc:ro`, ...volumes]);
}
