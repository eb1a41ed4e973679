// The X.509 library is paid for only where certificates are issued: no program module imports pkijs or
// asn1js but controller/webhook/x509.ts, and nothing imports x509.ts statically; certs.ts loads it with
// `await import()` when it issues a certificate. So the speaker (and a controller replica that finds a good
// Secret) never loads it. Read from the sources.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoPath, repoRoot } from '../../support/repo.js';

const PROGRAM_DIRS = ['proto', 'net', 'k8s', 'config', 'controller', 'speaker', 'cli'];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'build' && e.name !== 'node_modules') out.push(...sources(p));
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const files = PROGRAM_DIRS.flatMap((d) => sources(repoPath(d))).map((p) => ({
  path: relative(repoRoot(), p).split('\\').join('/'),
  text: readFileSync(p, 'utf8'),
}));

describe('the X.509 library is loaded only to issue certificates', () => {
  it('found the program sources', () => {
    assert.ok(files.some((f) => f.path === 'controller/webhook/x509.ts'));
    assert.ok(files.some((f) => f.path.startsWith('speaker/')));
  });

  it('only controller/webhook/x509.ts imports pkijs or asn1js', () => {
    const importers = files
      .filter((f) => /from\s+'(pkijs|asn1js)'|import\(\s*'(pkijs|asn1js)'\s*\)/.test(f.text))
      .map((f) => f.path);
    assert.deepEqual(importers, ['controller/webhook/x509.ts']);
  });

  it('x509.ts is imported by no module statically, and dynamically only by controller/webhook/certs.ts', () => {
    const statically = files.filter((f) => /from\s+'[^']*\/x509\.js'/.test(f.text)).map((f) => f.path);
    assert.deepEqual(statically, []);
    const dynamically = files
      .filter((f) => /import\(\s*'[^']*\/x509\.js'\s*\)/.test(f.text))
      .map((f) => f.path);
    assert.deepEqual(dynamically, ['controller/webhook/certs.ts']);
  });
});
