// The commands a build needs, checked before it starts, so a machine without them gets one clear
// line (the lab's toolchain, lab/toolchain.ts, installs them; so does apt-get).
import { spawnSync } from 'node:child_process';
import { fail, ok, type Result } from './result.js';

/** Debian package of each command the builder runs. */
const PACKAGE_OF: Record<string, string> = {
  buildah: 'buildah',
  runc: 'runc',
  mmdebstrap: 'mmdebstrap',
  tar: 'tar',
  nice: 'coreutils',
};

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' }).status === 0;
}

/** Ok when every command is on the PATH; else which are missing and the apt-get line that installs them. */
export function requireCommands(step: string, cmds: readonly string[]): Result<void> {
  const missing = cmds.filter((c) => !onPath(c));
  if (missing.length === 0) return ok(undefined);
  const pkgs = [...new Set(missing.map((c) => PACKAGE_OF[c] ?? c))];
  return fail(step, `missing ${missing.join(', ')}: apt-get install ${pkgs.join(' ')}`);
}
