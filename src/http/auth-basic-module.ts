import { open, type FileHandle } from 'node:fs/promises';
import { A, C, type Cf, type Module } from '../conf/module';
import { sysErrorText } from '../conf/errors';
import { fsPath } from '../conf/bytes';
import { compile, type HttpModuleHooks } from './core-conf';
import type { HttpRequest, Outcome } from './request';
import type { Template } from './variables';
import { logError } from './http-context';
import { challenge, GRANTED } from './access-phase';
import { basicUser } from './basic-user';
import { checkPassword, findHash } from './htpasswd';

// ngx_http_auth_basic_module: "401, WWW-Authenticate: Basic realm=…" until
// the client sends a user and password that the user file holds. The realm
// and the file name may have variables; a realm of "off" (however it comes
// about) turns the check off. The file is read at every request, as nginx
// does, so edits take effect without a reload.

export const AUTH_BASIC = 'http_auth_basic';

interface UserFile {
  name: Template;
  /** a name that starts with a variable gets the conf prefix at run time (ngx_http_script_full_name_code) */
  confPrefix?: string;
}

export interface AuthBasicLocConf {
  realm?: Template;
  userFile?: UserFile;
}

/** ngx_http_set_complex_value_slot */
function realm(cf: Cf, conf: AuthBasicLocConf): string | undefined {
  if (conf.realm !== undefined) return 'is duplicate';
  conf.realm = compile(cf, cf.args[0]);
  return undefined;
}

/** ngx_http_auth_basic_user_file: relative names are from the directory of nginx.conf. */
function userFile(cf: Cf, conf: AuthBasicLocConf): string | undefined {
  if (conf.userFile !== undefined) return 'is duplicate';
  const value = cf.args[0];
  if (value.startsWith('$')) conf.userFile = { name: compile(cf, value), confPrefix: cf.cycle.confPrefix };
  else conf.userFile = { name: compile(cf, cf.fullName(value, true)) };
  return undefined;
}

/** ngx_http_auth_basic_set_realm */
function unauthorized(r: HttpRequest, realmText: string): Outcome {
  challenge(r, `Basic realm="${realmText}"`);
  return 401;
}

async function readUserFile(r: HttpRequest, file: string): Promise<Buffer | number> {
  let fh: FileHandle;
  try {
    fh = await open(fsPath(file), 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const missing = err.code === 'ENOENT';
    logError(r, missing ? 'error' : 'crit', `open() "${file}" failed ${sysErrorText(err)}`);
    return missing ? 403 : 500;
  }
  try {
    return await fh.readFile();
  } catch (e) {
    logError(r, 'crit', `pread() "${file}" failed ${sysErrorText(e as NodeJS.ErrnoException)}`);
    return 500;
  } finally {
    await fh.close();
  }
}

/** ngx_http_auth_basic_handler */
function authBasicHandler(r: HttpRequest): Outcome | Promise<Outcome> {
  const conf = r.loc.confs[AUTH_BASIC] as AuthBasicLocConf | undefined;
  // no auth_basic here: declined at once, without a promise to wait for
  if (!conf?.realm || !conf.userFile) return undefined;
  return authBasic(r, conf as Required<Pick<AuthBasicLocConf, 'realm' | 'userFile'>>);
}

async function authBasic(r: HttpRequest, conf: Required<Pick<AuthBasicLocConf, 'realm' | 'userFile'>>): Promise<Outcome> {
  const realmText = conf.realm.run(r);
  if (realmText === 'off') return undefined;
  const creds = basicUser(r);
  if (!creds) {
    logError(r, 'info', 'no user/password was provided for basic authentication');
    r.trace?.push({ kind: 'access', module: 'auth_basic', result: 'no credentials' });
    return unauthorized(r, realmText);
  }
  let file = conf.userFile.name.run(r);
  if (conf.userFile.confPrefix !== undefined && !file.startsWith('/')) file = `${conf.userFile.confPrefix}/${file}`;
  // the name is a C string to open()
  if (file.includes('\0')) file = file.slice(0, file.indexOf('\0'));
  const content = await readUserFile(r, file);
  if (typeof content === 'number') return content;
  const hash = findHash(content, creds.user);
  if (hash === undefined) {
    logError(r, 'error', `user "${creds.user}" was not found in "${file}"`);
    r.trace?.push({ kind: 'access', module: 'auth_basic', result: `user "${creds.user}" not found` });
    return unauthorized(r, realmText);
  }
  const ok = checkPassword(creds.password, hash);
  if (ok === true) {
    r.trace?.push({ kind: 'access', module: 'auth_basic', result: `user "${creds.user}" authenticated` });
    return GRANTED;
  }
  if (ok === false) logError(r, 'error', `user "${creds.user}": password mismatch`);
  else logError(r, 'error', `user "${creds.user}": the "${ok.unsupported}" password scheme is not supported by nodinx`);
  r.trace?.push({ kind: 'access', module: 'auth_basic', result: `user "${creds.user}": password mismatch` });
  return unauthorized(r, realmText);
}

export const authBasicModule: Module & HttpModuleHooks = {
  name: AUTH_BASIC,
  provides: ['http_auth_basic'],
  type: 'http',
  createLoc: (): AuthBasicLocConf => ({}),
  mergeLoc(parent: AuthBasicLocConf, child: AuthBasicLocConf) {
    child.realm ??= parent.realm;
    child.userFile ??= parent.userFile;
  },
  handlers: { access: authBasicHandler },
  commands: [
    { name: 'auth_basic', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | C.HTTP_LMT | A.TAKE1, set: realm },
    { name: 'auth_basic_user_file', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | C.HTTP_LMT | A.TAKE1, set: userFile },
  ],
};
