// Which Debian mirror the bases come from: the host's own APT sources for the suite (so a machine
// behind a mirror or a proxy builds from what it already reaches), else deb.debian.org.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One archive line as mmdebstrap takes it: `deb URI SUITE main`. */
export type SourceLine = string;

interface Entry {
  uris: string[];
  suites: string[];
  components: string[];
  signedBy?: string;
}

const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** `deb [opts] uri suite comp…` lines of a sources.list file. */
function parseOneLine(text: string): Entry[] {
  const entries: Entry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s+(.+)$/.exec(line);
    if (!m) continue;
    const signedBy = /signed-by=(\S+)/.exec(m[1] ?? '')?.[1];
    entries.push({
      uris: [m[2] as string],
      suites: [m[3] as string],
      components: (m[4] as string).split(/\s+/),
      ...(signedBy ? { signedBy } : {}),
    });
  }
  return entries;
}

/** Stanzas of a deb822 .sources file. */
function parseDeb822(text: string): Entry[] {
  const entries: Entry[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const raw of stanza.split('\n')) {
      if (raw.startsWith('#')) continue;
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (m) fields.set((m[1] as string).toLowerCase(), (m[2] as string).trim());
    }
    const words = (k: string): string[] => (fields.get(k) ?? '').split(/\s+/).filter(Boolean);
    if (!words('types').includes('deb') || fields.get('enabled') === 'no') continue;
    const signedBy = fields.get('signed-by');
    entries.push({
      uris: words('uris'),
      suites: words('suites'),
      components: words('components'),
      ...(signedBy ? { signedBy } : {}),
    });
  }
  return entries;
}

function hostEntries(etcApt: string): Entry[] {
  const entries: Entry[] = [];
  const list = join(etcApt, 'sources.list');
  if (existsSync(list)) entries.push(...parseOneLine(readFileSync(list, 'utf8')));
  const dir = join(etcApt, 'sources.list.d');
  if (existsSync(dir)) {
    for (const f of readdirSync(dir).sort()) {
      const text = readFileSync(join(dir, f), 'utf8');
      if (f.endsWith('.list')) entries.push(...parseOneLine(text));
      else if (f.endsWith('.sources')) entries.push(...parseDeb822(text));
    }
  }
  return entries;
}

/**
 * The Debian archive lines for `suite` (its -updates and -security too), from the host's APT sources:
 * entries of that suite with the `main` component, signed by Debian's archive key (or not saying).
 * Falls back to deb.debian.org when the host has none (not a Debian machine, or another release).
 */
export function debianSources(
  suite: string,
  etcApt = '/etc/apt',
): { lines: SourceLine[]; fromHost: boolean } {
  const wanted = new Set([suite, `${suite}-updates`, `${suite}-security`]);
  const lines: SourceLine[] = [];
  for (const e of hostEntries(etcApt)) {
    if (!e.components.includes('main')) continue;
    if (e.signedBy !== undefined && e.signedBy !== DEBIAN_KEYRING) continue;
    for (const uri of e.uris) for (const s of e.suites) if (wanted.has(s)) lines.push(`deb ${uri} ${s} main`);
  }
  const unique = [...new Set(lines)];
  if (unique.some((l) => l.split(' ')[2] === suite)) return { lines: unique, fromHost: true };
  return {
    lines: [
      `deb http://deb.debian.org/debian ${suite} main`,
      `deb http://deb.debian.org/debian ${suite}-updates main`,
      `deb http://deb.debian.org/debian-security ${suite}-security main`,
    ],
    fromHost: false,
  };
}
