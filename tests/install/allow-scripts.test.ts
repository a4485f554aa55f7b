// Every dependency's install script is a reviewed decision in package.json's `allowScripts`:
// approved (it runs) or denied (npm skips it). Read from the lock file, so it holds whatever npm
// version runs the tests: an older one prints no warning at all, a newer one skips unreviewed
// scripts silently, and either way a new one would go unnoticed.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (file: string) => JSON.parse(readFileSync(join(ROOT, file), 'utf8'));

interface LockEntry {
  name?: string;
  version?: string;
  hasInstallScript?: boolean;
}

/** Packages of the lock file that carry an install script, as `{name, version}`. */
function withInstallScripts(lock: { packages: Record<string, LockEntry> }) {
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && entry.hasInstallScript)
    .map(([path, entry]) => ({ name: entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length), version: entry.version! }));
}

/**
 * An allowScripts key as npm reads a registry package's: its name alone (any version), or pinned
 * to exact versions joined by `||`. Ranges and tags are ignored by npm, so they count as errors.
 */
function parseEntry(key: string): { name: string; versions: string[] | null } | { error: string } {
  const at = key.indexOf('@', key.startsWith('@') ? 1 : 0);
  if (at === -1) return { name: key, versions: null };
  const versions = key
    .slice(at + 1)
    .split('||')
    .map((v) => v.trim());
  if (!versions.every((v) => /^\d+\.\d+\.\d+(-[\w.]+)?$/.test(v))) return { error: `${key}: npm takes a bare name or exact versions joined by "||", not a range or tag` };
  return { name: key.slice(0, at), versions };
}

function reviewProblems(pkg: { allowScripts?: Record<string, unknown> }, lock: { packages: Record<string, LockEntry> }): string[] {
  const problems: string[] = [];
  const entries: { key: string; name: string; versions: string[] | null }[] = [];
  for (const [key, decision] of Object.entries(pkg.allowScripts ?? {})) {
    if (typeof decision !== 'boolean') problems.push(`${key}: must be true (approved) or false (denied), not ${JSON.stringify(decision)}`);
    const parsed = parseEntry(key);
    if ('error' in parsed) problems.push(parsed.error);
    else entries.push({ key, ...parsed });
  }
  const covers = (entry: (typeof entries)[number], p: { name: string; version: string }) => entry.name === p.name && (entry.versions === null || entry.versions.includes(p.version));
  const packages = withInstallScripts(lock);
  for (const p of packages) {
    if (!entries.some((entry) => covers(entry, p))) problems.push(`${p.name}@${p.version} has an install script that allowScripts neither approves nor denies`);
  }
  for (const entry of entries) {
    if (!packages.some((p) => covers(entry, p))) problems.push(`allowScripts entry "${entry.key}" matches no package with an install script in package-lock.json (stale)`);
  }
  return problems;
}

describe('allowScripts', () => {
  it('decides on every install script in package-lock.json, and on nothing else', () => {
    expect(reviewProblems(read('package.json'), read('package-lock.json'))).toEqual([]);
  });

  it("runs only node's preinstall, which installs the platform's Node 24 binary", () => {
    const approved = Object.entries(read('package.json').allowScripts).filter(([, decision]) => decision === true);
    expect(approved.map(([key]) => key)).toEqual(['node']);
  });

  // The checks themselves, on a made-up lock file: each must be able to fail.
  const lock = {
    packages: {
      '': { name: 'app' },
      'node_modules/esbuild': { version: '0.28.2', hasInstallScript: true },
      'node_modules/@scope/tool': { version: '1.0.0', hasInstallScript: true },
      'node_modules/x/node_modules/esbuild': { version: '0.18.20', hasInstallScript: true },
      'node_modules/plain': { version: '2.0.0' },
    },
  };

  it('names an install script nobody reviewed', () => {
    expect(reviewProblems({ allowScripts: { esbuild: false } }, lock)).toEqual(['@scope/tool@1.0.0 has an install script that allowScripts neither approves nor denies']);
    expect(reviewProblems({}, lock)).toHaveLength(3);
  });

  it('takes pinned entries for the versions they name only', () => {
    expect(reviewProblems({ allowScripts: { '@scope/tool@1.0.0': true, 'esbuild@0.28.2 || 0.18.20': false } }, lock)).toEqual([]);
    expect(reviewProblems({ allowScripts: { '@scope/tool': true, 'esbuild@0.28.2': false } }, lock)).toEqual(['esbuild@0.18.20 has an install script that allowScripts neither approves nor denies']);
  });

  it('names a stale entry, a range npm would ignore and a decision that is not a boolean', () => {
    expect(reviewProblems({ allowScripts: { esbuild: false, '@scope/tool': 'yes', plain: true, 'gone@1.0.0': false, 'esbuild@^0.28.0': true } }, lock)).toEqual([
      '@scope/tool: must be true (approved) or false (denied), not "yes"',
      'esbuild@^0.28.0: npm takes a bare name or exact versions joined by "||", not a range or tag',
      'allowScripts entry "plain" matches no package with an install script in package-lock.json (stale)',
      'allowScripts entry "gone@1.0.0" matches no package with an install script in package-lock.json (stale)',
    ]);
  });
});
