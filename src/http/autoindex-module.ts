import * as fs from 'node:fs';
import { A, C, type Cf, type Module } from '../conf/module';
import { flagValue, slot } from '../conf/slots';
import { fsPath } from '../conf/bytes';
import type { HttpModuleHooks } from './core-module';
import { DONE, type HttpRequest, type Outcome } from './request';
import { errText } from './access-log';
import { logError } from './http-context';
import { sendHeader } from './header-filter';
import { argValue } from './core-variables';
import { mapUriToPath, outsideAlias } from './static-module';
import { autoindexHtml, autoindexJson, autoindexXml, type AutoindexEntry } from './autoindex-format';

// ngx_http_autoindex_module: a listing of a directory whose URI ends in "/"
// when no index file answered. It runs in the content phase after index and
// before static, so that with autoindex off static's 403 stands.

export type AutoindexFormat = 'html' | 'json' | 'jsonp' | 'xml';

export interface AutoindexLocConf {
  enable?: boolean;
  format?: AutoindexFormat;
  localtime?: boolean;
  exactSize?: boolean;
}

export const AUTOINDEX = 'http_autoindex';

const FORMATS: readonly AutoindexFormat[] = ['html', 'json', 'jsonp', 'xml'];

/** ngx_conf_set_enum_slot: the names compare caselessly. */
function formatValue(cf: Cf): AutoindexFormat {
  const v = FORMATS.find((f) => f === cf.args[0].toLowerCase());
  if (v === undefined) throw cf.error(`invalid value "${cf.args[0]}"`);
  return v;
}

const CONTENT_TYPES: Record<AutoindexFormat, string> = {
  html: 'text/html',
  json: 'application/json',
  jsonp: 'application/javascript',
  // nginx sets the charset of this one itself
  xml: 'text/xml; charset=utf-8',
};

/** The callback of jsonp: undefined for none, null for one nginx refuses (400). */
function jsonpCallback(r: HttpRequest): string | undefined | null {
  const cb = argValue(r.args, 'callback');
  if (cb === undefined) return undefined;
  if (cb.length > 128) {
    logError(r, 'info', `client sent too long callback name: "${cb}"`);
    return null;
  }
  if (!/^[A-Za-z0-9_.]*$/.test(cb)) {
    logError(r, 'info', `client sent invalid callback name: "${cb}"`);
    return null;
  }
  return cb;
}

/** Why reading a directory stopped before its end: the listing cannot be finished. */
class ListingError extends Error {}

/**
 * The entries of a directory as nginx gathers them: dot files skipped, each
 * name stat()ed (a symlink stands for what it points to), lstat() when the
 * target is gone or loops, entries stat() may not see left out.
 */
export async function readEntries(r: HttpRequest | undefined, dir: fs.Dir, path: string): Promise<AutoindexEntry[]> {
  const entries: AutoindexEntry[] = [];
  const crit = (m: string): void => {
    if (r) logError(r, 'crit', m);
  };
  for (;;) {
    let de: fs.Dirent | null;
    try {
      de = await dir.read();
    } catch (e) {
      crit(`readdir() "${path}" failed (${errText(e)})`);
      throw new ListingError();
    }
    if (de === null) break;
    const name = (de.name as unknown as Buffer).toString('latin1');
    if (name.startsWith('.')) continue;
    const filename = path + '/' + name;
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(fsPath(filename));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ELOOP') {
        crit(`stat() "${filename}" failed (${errText(e)})`);
        if (code === 'EACCES') continue;
        throw new ListingError();
      }
      try {
        st = await fs.promises.lstat(fsPath(filename));
      } catch (e2) {
        crit(`lstat() "${filename}" failed (${errText(e2)})`);
        throw new ListingError();
      }
    }
    entries.push({ name, dir: st.isDirectory(), file: st.isFile(), mtime: Math.floor(st.mtimeMs / 1000), size: st.size });
  }
  return entries;
}

/** ngx_http_autoindex_cmp_entries: directories first, then by bytes (strcmp). */
export function sortEntries(entries: AutoindexEntry[]): AutoindexEntry[] {
  return entries.sort((a, b) => (a.dir !== b.dir ? (a.dir ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function closeDir(r: HttpRequest, dir: fs.Dir, path: string): Promise<void> {
  try {
    await dir.close();
  } catch (e) {
    logError(r, 'alert', `closedir() "${path}" failed (${errText(e)})`);
  }
}

/** ngx_http_autoindex_handler */
async function autoindexHandler(r: HttpRequest): Promise<Outcome> {
  if (!r.uri.endsWith('/')) return undefined;
  if (r.method !== 'GET' && r.method !== 'HEAD') return undefined;
  const conf = r.loc.confs[AUTOINDEX] as AutoindexLocConf | undefined;
  if (!conf?.enable) return undefined;
  const mapped = mapUriToPath(r);
  if (!mapped) return 500;
  if (mapped.outside) return outsideAlias(r, mapped);
  // nginx drops the last byte, the URI's "/" (or, after an alias without one, a letter of the alias)
  const path = mapped.path.length > 1 ? mapped.path.slice(0, -1) : mapped.path;
  r.trace?.push({ kind: 'content', handler: 'autoindex', detail: path });

  let format = conf.format!;
  let callback: string | undefined;
  if (format === 'jsonp') {
    const cb = jsonpCallback(r);
    if (cb === null) return 400;
    if (cb === undefined || cb === '') format = 'json';
    else callback = cb;
  }

  let dir: fs.Dir;
  try {
    dir = await fs.promises.opendir(fsPath(path), { encoding: 'buffer' as BufferEncoding });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const status = code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG' ? 404 : code === 'EACCES' ? 403 : 500;
    logError(r, status === 500 ? 'crit' : 'error', `opendir() "${path}" failed (${errText(e)})`);
    return status;
  }

  // the head goes out before the directory is read, as nginx sends it
  r.status = 200;
  r.out.contentType = CONTENT_TYPES[format];
  const rc = sendHeader(r);
  if (rc !== DONE || r.headerOnly) {
    await closeDir(r, dir, path);
    if (rc === DONE) r.res.end();
    return rc;
  }

  let entries: AutoindexEntry[];
  try {
    entries = await readEntries(r, dir, path);
  } catch (e) {
    if (!(e instanceof ListingError)) throw e;
    await closeDir(r, dir, path);
    // the head is out: the connection goes, the listing unfinished
    r.keepalive = false;
    r.res.destroy();
    return DONE;
  }
  await closeDir(r, dir, path);
  sortEntries(entries);

  let body: string;
  if (format === 'html') {
    // nginx measures names in characters only when the answer says utf-8 (the charset filter)
    const utf8 = /;\s*charset=utf-8$/i.test(r.out.contentType ?? '');
    body = autoindexHtml(r.uri, entries, {
      exactSize: conf.exactSize!, localtime: conf.localtime!, gmtoff: -new Date().getTimezoneOffset(), utf8,
    });
  } else if (format === 'xml') body = autoindexXml(entries);
  else body = autoindexJson(entries, callback);

  // $body_bytes_sent counts what went on the wire, chunk framing included
  r.bodyBytesSent += body.length + (r.res.chunkedEncoding ? body.length.toString(16).length + 9 : 0);
  r.res.end(body, 'latin1');
  return DONE;
}

export const autoindexModule: Module & HttpModuleHooks = {
  name: AUTOINDEX,
  provides: ['http_autoindex'],
  type: 'http',
  createLoc: (): AutoindexLocConf => ({}),
  mergeLoc(parent: AutoindexLocConf, child: AutoindexLocConf) {
    child.enable ??= parent.enable ?? false;
    child.format ??= parent.format ?? 'html';
    child.localtime ??= parent.localtime ?? false;
    child.exactSize ??= parent.exactSize ?? true;
  },
  handlers: { directory: autoindexHandler },
  commands: [
    { name: 'autoindex', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.FLAG, set: slot<AutoindexLocConf, 'enable'>('enable', flagValue) },
    { name: 'autoindex_format', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1, set: slot<AutoindexLocConf, 'format'>('format', formatValue) },
    { name: 'autoindex_localtime', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.FLAG, set: slot<AutoindexLocConf, 'localtime'>('localtime', flagValue) },
    { name: 'autoindex_exact_size', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.FLAG, set: slot<AutoindexLocConf, 'exactSize'>('exactSize', flagValue) },
  ],
};
