import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { CoreConf } from '../conf/core';

// What a worker process becomes before it serves, as ngx_worker_process_init
// makes it: its environment (ngx_set_environment), its priority and, when
// the master runs as root, the unprivileged user (setgid, initgroups, setuid).

/** Debian's nginx is built with these (NGX_USER, NGX_GROUP); workers of a root master run as them. */
export const DEFAULT_USER = 'nobody';
export const DEFAULT_GROUP = 'nogroup';

export interface Credentials {
  user: string;
  uid: number;
  gid: number;
}

export const isRoot = (): boolean => typeof process.geteuid === 'function' && process.geteuid() === 0;

/** A field of the passwd or group database: the files first, then NSS through getent. */
function lookup(db: 'passwd' | 'group', name: string, field: number): number | undefined {
  const parse = (text: string): number | undefined => {
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f[0] === name && f.length > field && /^[0-9]+$/.test(f[field])) return Number(f[field]);
    }
    return undefined;
  };
  try {
    const v = parse(fs.readFileSync(`/etc/${db}`, 'latin1'));
    if (v !== undefined) return v;
  } catch {
    // no such file: NSS may still know the name
  }
  const r = spawnSync('getent', [db, name], { encoding: 'latin1', timeout: 5000 });
  return r.status === 0 ? parse(r.stdout) : undefined;
}

/** getpwnam(name)->pw_uid */
export const getpwnam = (name: string): number | undefined => lookup('passwd', name, 2);
/** getgrnam(name)->gr_gid */
export const getgrnam = (name: string): number | undefined => lookup('group', name, 2);

/**
 * Who the workers become: nothing changes when the master is not root;
 * when it is, `user`, else nginx's compiled-in nobody:nogroup.
 * Throws nginx's message when a name is unknown.
 */
export function workerCredentials(core: CoreConf): Credentials | undefined {
  if (!isRoot()) return undefined;
  const [user, group] = core.user ?? [DEFAULT_USER, DEFAULT_GROUP];
  const uid = getpwnam(user);
  if (uid === undefined) throw new Error(`getpwnam("${user}") failed`);
  const groupName = group ?? user;
  const gid = getgrnam(groupName);
  if (gid === undefined) throw new Error(`getgrnam("${groupName}") failed`);
  return { user, uid, gid };
}

/** setgid, initgroups, setuid, in nginx's order; throws nginx's message on failure. */
export function dropPrivileges(c: Credentials): void {
  const step = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (e) {
      throw new Error(`${what} failed (${(e as NodeJS.ErrnoException).errno ?? 0}: ${(e as Error).message})`, { cause: e });
    }
  };
  step(`setgid(${c.gid})`, () => process.setgid!(c.gid));
  // initgroups is in Node 20 though not in its types; without it, the group alone
  const initgroups = (process as { initgroups?: (user: string, gid: number) => void }).initgroups;
  step(`initgroups(${c.user}, ${c.gid})`, () => (initgroups ? initgroups(c.user, c.gid) : process.setgroups!([c.gid])));
  step(`setuid(${c.uid})`, () => process.setuid!(c.uid));
}

/**
 * ngx_set_environment: nothing of the parent's environment but TZ and the
 * variables `env` names (`env NAME=value` sets one). Checked with gdb on
 * nginx 1.22: the worker's environ is exactly these; the master keeps its own.
 */
export function workerEnvironment(core: CoreConf, parent: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  const names = core.env.some((e) => e.name === 'TZ') ? core.env : [...core.env, { name: 'TZ' }];
  for (const { name, value } of names) {
    if (value !== undefined) env[name] = value;
    else if (parent[name] !== undefined) env[name] = parent[name]!;
  }
  return env;
}

/** The same in this process (nginx does it in its single process too). */
export function restrictEnvironment(core: CoreConf): void {
  const keep = workerEnvironment(core);
  for (const name of Object.keys(process.env)) if (!(name in keep)) delete process.env[name];
  Object.assign(process.env, keep);
}

/** worker_priority: setpriority(); nginx's alert when refused. */
export function applyPriority(core: CoreConf, alert: (message: string) => void): void {
  if (core.workerPriority === undefined) return;
  try {
    os.setPriority(core.workerPriority);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { info?: { errno?: number; message?: string } };
    alert(`setpriority(${core.workerPriority}) failed (${Math.abs(err.info?.errno ?? err.errno ?? 0)}: ${err.info?.message ?? err.message})`);
  }
}
