import { execFileSync, execSync } from 'node:child_process';
import * as fs from 'node:fs';

// Tests compare with real nginx (and later memcached): install them from
// Debian's packages when the machine lacks them, as CI machines do.

function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Installs the Debian packages whose command (a name on PATH or an absolute path) is missing. */
export function ensurePackages(pkgs: Record<string, string>): void {
  const missing = Object.entries(pkgs).filter(([cmd]) => !have(cmd)).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execSync('apt-get update -qq', { stdio: 'inherit', env });
  // policy-rc.d 101 keeps a package from starting its service (nginx on port 80, tomcat, memcached)
  const policy = '/usr/sbin/policy-rc.d';
  const ours = !fs.existsSync(policy);
  if (ours) fs.writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    execSync(`apt-get install -y -qq ${missing.join(' ')}`, { stdio: 'inherit', env, timeout: 900000 });
  } finally {
    if (ours) fs.rmSync(policy, { force: true });
  }
}

export default function setup(): void {
  // (dist/ for the tests that run bin/nodinx is built by `npm test` first)
  ensurePackages({ nginx: 'nginx', pcre2test: 'pcre2-utils' });
}
