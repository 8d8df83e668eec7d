import { execFileSync, execSync } from 'node:child_process';

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

export function ensurePackages(pkgs: Record<string, string>): void {
  const missing = Object.entries(pkgs).filter(([cmd]) => !have(cmd)).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execSync('apt-get update -qq', { stdio: 'inherit', env });
  // policy-rc.d 101 keeps the package from starting a system nginx on port 80
  execSync(`printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d`);
  try {
    execSync(`apt-get install -y -qq ${missing.join(' ')}`, { stdio: 'inherit', env });
  } finally {
    execSync('rm -f /usr/sbin/policy-rc.d');
  }
}

export default function setup(): void {
  // (dist/ for the tests that run bin/nodinx is built by `npm test` first)
  ensurePackages({ nginx: 'nginx', pcre2test: 'pcre2-utils' });
}
