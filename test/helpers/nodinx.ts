import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'nodinx');
export const NGINX = process.env.NGINX ?? '/usr/sbin/nginx';

/** Runs bin/nodinx (or nginx) to completion. */
export function run(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: 60000, ...opts });
}

/** The verdict line of a `-t` run: "ok" or the first "[level] …" line, the prefix "nginx: "/"nodinx: " cut. */
export function verdictOf(r: SpawnSyncReturns<string>, dir: string): string {
  if (r.status === 0) return 'ok';
  // warnings may come first; the verdict is the error
  const line = r.stderr.split('\n').find((l) => /^(nginx|nodinx): \[/.test(l) && !/^(nginx|nodinx): \[warn\]/.test(l));
  return (line ?? `exit ${r.status}: ${r.stderr}`).replace(/^(nginx|nodinx): /, '').split(dir).join('{dir}');
}

/** The process exists (signal 0 probes without signalling). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
