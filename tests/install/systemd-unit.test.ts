// The systemd unit a self-hoster copies as it is: it must start what `npm run host` starts, from
// where `npm ci` puts it, let the host stop cleanly, and leave its data directory writable under
// the hardening. Its settings example must be a configuration the host accepts.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../session-host/config.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const DIR = join(ROOT, 'session-host/systemd');

/** `Key=value` lines of a unit, by key (a key may repeat), section names dropped. */
function parseUnit(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (match) keys.set(match[1]!, [...(keys.get(match[1]!) ?? []), match[2]!]);
  }
  return keys;
}

const unit = parseUnit(readFileSync(join(DIR, 'wa-gateway-host.service'), 'utf8'));
const one = (key: string) => {
  const values = unit.get(key) ?? [];
  expect(values, key).toHaveLength(1);
  return values[0]!;
};

describe('wa-gateway-host.service', () => {
  it('runs the Node 24 that npm ci installs on the script `npm run host` runs, from the checkout', () => {
    const workdir = one('WorkingDirectory');
    const [binary, script, ...rest] = one('ExecStart').split(/\s+/);
    expect(rest).toEqual([]);
    // Node itself, not npm: npm in between may not pass SIGTERM on.
    expect(relative(workdir, binary!)).toBe('node_modules/.bin/node');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.host).toBe(`node ${script}`);
    expect(existsSync(join(ROOT, script!))).toBe(true);
    // In this checkout (after npm ci) the same relative path is Node 24, as on the server.
    expect(execFileSync(join(ROOT, 'node_modules/.bin/node'), ['--version'], { encoding: 'utf8' })).toMatch(/^v24\./);
  });

  it('stops with SIGTERM and waits longer than the host does for webhooks in flight (15 s)', () => {
    expect(one('KillSignal')).toBe('SIGTERM');
    expect(Number(one('TimeoutStopSec'))).toBeGreaterThanOrEqual(20);
    expect(one('Restart')).toBe('on-failure');
    expect(Number(one('RestartSec'))).toBeGreaterThan(0);
  });

  it('keeps DATA_DIR writable under ProtectSystem=strict, and runs as its own user', () => {
    expect(one('ProtectSystem')).toBe('strict');
    const dataDir = one('Environment').replace(/^DATA_DIR=/, '');
    const writable = [...(unit.get('StateDirectory') ?? []).map((d) => `/var/lib/${d}`), ...(unit.get('ReadWritePaths') ?? [])];
    expect(writable).toContain(dataDir);
    expect(one('User')).not.toBe('root');
    expect(one('NoNewPrivileges')).toBe('true');
    // V8 writes machine code at run time: this setting would kill the process at start.
    expect(unit.has('MemoryDenyWriteExecute')).toBe(false);
  });
});

describe('host.env.example', () => {
  const text = readFileSync(join(DIR, 'host.env.example'), 'utf8');

  it('is a configuration the host accepts once HOST_SECRET is filled in, with any commented setting turned on', () => {
    const settings = text
      .split('\n')
      .map((line) => /^#?([A-Z_]+)=(.*)$/.exec(line))
      .filter((match) => match !== null)
      .map(([, key, value]) => [key!, value!] as const);
    const env = Object.fromEntries(settings);
    expect(Object.keys(env)).toContain('HOST_SECRET');
    const config = loadConfig({ ...env, HOST_SECRET: 'a'.repeat(32) });
    expect(config.port).toBe(8790);
    expect(config.host).toBe('127.0.0.1');
  });

  it('names only variables the README documents', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const [, key] of text.matchAll(/^#?([A-Z_]+)=/gm)) expect(readme, key).toContain(`\`${key}\``);
  });
});
