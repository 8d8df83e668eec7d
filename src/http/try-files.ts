import * as fs from 'node:fs';
import { A, C, type Cf, type Module } from '../conf/module';
import { fsPath } from '../conf/bytes';
import { parseNumber } from '../conf/values';
import { compile, type HttpModuleHooks } from './core-module';
import type { HttpRequest, Outcome } from './request';
import type { Template } from './variables';
import type { Where } from './trace';
import { logError } from './http-context';
import { internalRedirect, namedLocation } from './find-config';
import { aliasLength, mapUriToPath } from './static-module';
import { errText } from './access-log';

// try_files (ngx_http_try_files_module): in the precontent phase, the first
// of the names that is a file (or, written with a trailing "/", a directory)
// under root or alias becomes the URI; when none is, the last parameter is
// an internal redirect, a named location or a status. Like nginx's, the
// directive is not inherited: it applies where it is written.

export const TRY_FILES = 'http_try_files';

interface TryFile {
  name: Template;
  /** the name has variables (only then is an alias prefix cut from its value) */
  variables: boolean;
  /** written with a trailing "/": must be a directory */
  testDir: boolean;
}

export interface TryFilesLocConf {
  files?: TryFile[];
  /** "=code" as the last parameter */
  code?: number;
  where?: Where;
}

export interface FileInfo {
  isFile: boolean;
  isDir: boolean;
  isExec: boolean;
}

/**
 * ngx_open_cached_file without a cache: open() then fstat(), so what cannot
 * be opened does not count, whatever stat() would say.
 */
export async function openFileInfo(p: string): Promise<FileInfo | NodeJS.ErrnoException> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(fsPath(p), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
  try {
    const st = await fh.stat();
    return { isFile: st.isFile(), isDir: st.isDirectory(), isExec: (st.mode & 0o100) !== 0 };
  } catch (e) {
    return e as NodeJS.ErrnoException;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

function tryFiles(cf: Cf, conf: TryFilesLocConf): string | undefined {
  if (conf.files) return 'is duplicate';
  const args = cf.args;
  conf.files = [];
  conf.where = { file: cf.node.file, line: cf.node.endLine };
  for (let i = 0; i < args.length; i++) {
    let name = args[i];
    const testDir = name.endsWith('/') && i < args.length - 1;
    if (testDir) name = name.slice(0, -1);
    conf.files.push({ name: compile(cf, name), variables: name.includes('$'), testDir });
  }
  const last = args[args.length - 1];
  if (last.startsWith('=')) {
    // nginx's lengths: a name with variables loses its last character here
    const variables = last.includes('$');
    const digits = variables ? last.slice(1, -1) : last.slice(1);
    const code = parseNumber(digits);
    if (Number.isNaN(code) || code > 999) throw cf.error(`invalid code "${variables ? last.slice(0, -1) : last}"`);
    // "=0" is no code: the name is then a URI like any other
    if (code !== 0) conf.code = code;
  }
  return undefined;
}

/** ngx_http_try_files_handler. */
function tryFilesHandler(r: HttpRequest): Outcome | Promise<Outcome> {
  const conf = r.loc.confs[TRY_FILES] as TryFilesLocConf | undefined;
  return conf?.files ? tryFilesRun(r, conf as TryFilesLocConf & { files: NonNullable<TryFilesLocConf['files']> }) : undefined;
}

async function tryFilesRun(r: HttpRequest, conf: TryFilesLocConf & { files: NonNullable<TryFilesLocConf['files']> }): Promise<Outcome> {
  const mapped = mapUriToPath(r);
  if (!mapped) return 500;
  const root = mapped.path.slice(0, mapped.root);
  const alias = aliasLength(r.loc);
  const files = conf.files;
  for (let i = 0; i < files.length; i++) {
    const tf = files[i];
    let name = tf.name.run(r);
    // an alias replaces the location's prefix, which a $uri-based name still has
    if (alias > 0 && tf.variables && name.length >= alias && name.slice(0, alias) === r.uri.slice(0, alias)) {
      name = name.slice(alias);
    }
    if (i === files.length - 1) {
      if (conf.code !== undefined) return conf.code;
      if (name.startsWith('@')) return namedLocation(r, name, 'try_files');
      const q = name.indexOf('?');
      const rc = q < 0
        ? internalRedirect(r, name, '', false, 'try_files')
        : internalRedirect(r, name.slice(0, q), name.slice(q + 1), true, 'try_files');
      // nginx hands its split arguments over even when there are none: $args is "" from here
      r.argsFound = true;
      return rc;
    }
    const path = root + name;
    const info = await openFileInfo(path);
    if (info instanceof Error) {
      const code = info.code;
      if (info.errno !== undefined && code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ENAMETOOLONG') {
        logError(r, 'crit', `open() "${path}" failed (${errText(info)})`);
      }
      r.trace?.push({ kind: 'try_files', where: conf.where!, tried: path, found: false });
      continue;
    }
    const found = info.isDir === tf.testDir;
    r.trace?.push({ kind: 'try_files', where: conf.where!, tried: path, found });
    if (!found) continue;
    if (alias === 0) r.uri = name;
    else if (alias < 0) {
      if (!tf.testDir) {
        r.uri = name;
        r.ctx.addUriToAlias = true;
      }
    } else r.uri = r.uri.slice(0, alias) + name;
    r.filename = undefined;
    return undefined;
  }
  return undefined;
}

export const tryFilesModule: Module & HttpModuleHooks = {
  name: TRY_FILES,
  provides: ['http_try_files'],
  type: 'http',
  createLoc: (): TryFilesLocConf => ({}),
  handlers: { precontent: tryFilesHandler },
  commands: [{ name: 'try_files', type: C.HTTP_SRV | C.HTTP_LOC | A.MORE2, set: tryFiles }],
};
