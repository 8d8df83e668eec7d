import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LocationConf } from './core-module';
import { INDEX, type IndexLocConf } from './index-module';
import { DONE, runHandlers, type HttpRequest, type Outcome, type PhaseHandler } from './request';
import { fsPath } from '../conf/bytes';
import type { Template } from './variables';
import { errText } from './access-log';
import { logError } from './http-context';
import { sendHeader } from './header-filter';
import { internalRedirect } from './find-config';
import { discardRequestBody } from './request-body';
import { staticLocConf } from './core-static-module';
import { openFileCache } from './open-file-cache';
import { WHOLE_READ_MAX, closeFile, openFile, readWhole, sendBuffer, sendStream } from './static-file';

// ngx_http_static_module and ngx_http_index_module at run time, and
// ngx_http_map_uri_to_path: how a URI becomes a file under root or alias.

/** nginx's compiled-in types when the config has no `types` block. */
const DEFAULT_TYPES = new Map([['html', 'text/html'], ['gif', 'image/gif'], ['jpg', 'image/jpeg']]);

interface RootInfo {
  /** the root as bytes when it has no variables */
  fixed?: string;
  template: Template;
  alias: boolean;
  /** alias: how much of the URI the alias replaces; -1: the alias is the whole path (regex location) */
  aliasLen: number;
  /** alias: the directory the path must stay in */
  aliasBase?: string;
}

const roots = new WeakMap<LocationConf, RootInfo>();

function rootInfo(loc: LocationConf): RootInfo {
  let info = roots.get(loc);
  if (info) return info;
  const template = loc.root!;
  let aliasLen = 0;
  if (loc.alias) {
    // the location that has the alias: inherited confs share the template
    let def: LocationConf = loc;
    while (def.parent && def.parent.root === template) def = def.parent;
    aliasLen = def.regex ? -1 : def.name.length;
  }
  info = { template, alias: !!loc.alias, aliasLen };
  if (template.isStatic) info.fixed = template.run(undefined as unknown as HttpRequest);
  roots.set(loc, info);
  return info;
}

function fullName(r: HttpRequest, p: string): string {
  return p.startsWith('/') ? p : r.conn.prefix + '/' + p;
}

/** $document_root: the root (or alias) of the location, variables evaluated. */
export function documentRoot(r: HttpRequest): string | undefined {
  if (!r.loc?.root) return undefined;
  const info = rootInfo(r.loc);
  return info.fixed ?? fullName(r, info.template.run(r));
}

export interface MappedPath {
  path: string;
  /** length of the root part */
  root: number;
  /** an alias that would reach outside its directory */
  outside?: boolean;
}

/** How much of the URI the location's alias replaces: 0 no alias, -1 a regex location's whole path. */
export function aliasLength(loc: LocationConf): number {
  const info = rootInfo(loc);
  return info.alias ? info.aliasLen : 0;
}

/** ngx_http_map_uri_to_path, refusing paths that leave an alias's directory. */
export function mapUriToPath(r: HttpRequest): MappedPath | undefined {
  const loc = r.loc;
  if (!loc?.root) return undefined;
  const info = rootInfo(loc);
  // `rewrite ... break` (or `break` after a rewrite) left a URI the alias was not chosen for
  if (info.alias && r.ctx.invalidLocation) {
    logError(r, 'alert', `"alias" cannot be used in location "${loc.name}" where URI was rewritten`);
    return undefined;
  }
  const root = info.fixed ?? fullName(r, info.template.run(r));
  if (!info.alias) return { path: root + r.uri, root: root.length };
  // try_files found a file for a regex location's alias: it is the alias plus the tried name
  if (info.aliasLen < 0) return { path: r.ctx.addUriToAlias ? root + r.uri : root, root: root.length };
  const rest = r.uri.length > info.aliasLen ? r.uri.slice(info.aliasLen) : '';
  const p = root + rest;
  // nginx appends the rest of the URI whatever it is: "/img../x" under
  // `location /img { alias /srv/img/; }` would climb out. nodinx keeps the
  // result inside the alias directory (or the alias file itself).
  let outside = false;
  if (rest !== '') {
    const dir = root.replace(/\/+$/, '');
    const norm = path.posix.normalize(p);
    outside = !(norm === dir || norm.startsWith(dir + '/'));
  }
  return { path: p, root: root.length, outside };
}

/** The extension of the URI as ngx_http_set_exten finds it, lower-cased. */
export function extension(uri: string): string {
  for (let i = uri.length - 1; i > 1; i--) {
    const c = uri.charCodeAt(i);
    if (c === 0x2e /* . */ && uri.charCodeAt(i - 1) !== 0x2f) return uri.slice(i + 1).toLowerCase();
    if (c === 0x2f) return '';
  }
  return '';
}

export function contentType(loc: LocationConf, uri: string): string {
  const ext = extension(uri);
  if (ext !== '') {
    const t = (loc.types ?? DEFAULT_TYPES).get(ext);
    if (t !== undefined) return t;
  }
  return loc.defaultType ?? 'text/plain';
}


function isGetHeadPost(m: string): boolean {
  return m === 'GET' || m === 'HEAD' || m === 'POST';
}

/**
 * Content handlers nginx runs after index and before static (autoindex);
 * they serve only URIs that end in "/" and decline (undefined) the rest.
 */
export const directoryHandlers: PhaseHandler[] = [];

/** Content handlers nginx runs before static for a file URI (gzip_static); they decline with undefined. */
export const fileHandlers: PhaseHandler[] = [];

/** The content phase when no module claimed the location: index, then static. */
export function staticContent(r: HttpRequest): Outcome | Promise<Outcome> {
  if (r.uri.endsWith('/')) return directoryContent(r);
  const rc = runHandlers(fileHandlers, r);
  if (rc instanceof Promise) return rc.then((v) => (v !== undefined ? v : staticHandler(r)));
  return rc !== undefined ? rc : staticHandler(r);
}

/** index, then autoindex; a directory nobody served is forbidden. */
async function directoryContent(r: HttpRequest): Promise<Outcome> {
  let rc = await indexHandler(r);
  for (let i = 0; rc === undefined && i < directoryHandlers.length; i++) rc = await directoryHandlers[i](r);
  if (rc !== undefined) return rc;
  if (!isGetHeadPost(r.method)) return 405;
  // ngx_http_core_content_phase: nobody served a directory URI
  const mapped = mapUriToPath(r);
  if (mapped) logError(r, 'error', `directory index of "${mapped.path}" is forbidden`);
  return 403;
}

async function statErr(p: string): Promise<fs.Stats | NodeJS.ErrnoException> {
  try {
    return await fs.promises.stat(fsPath(p));
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
}

/** ngx_http_index_module: the first index file that exists, by internal redirect. */
async function indexHandler(r: HttpRequest): Promise<Outcome> {
  if (!isGetHeadPost(r.method)) return undefined;
  const indices = (r.loc.confs[INDEX] as IndexLocConf | undefined)?.indices;
  if (!indices) return undefined;
  let dirTested = false;
  let mapped: MappedPath | undefined;
  for (const t of indices) {
    const name = t.isStatic ? t.source : t.run(r);
    if (name.startsWith('/')) return internalRedirect(r, name, r.args, r.hasArgs, 'index');
    mapped ??= mapUriToPath(r);
    if (!mapped) return 500;
    if (mapped.outside) return outsideAlias(r, mapped);
    const file = mapped.path + name;
    const st = await statErr(file);
    if (!(st instanceof fs.Stats)) {
      const code = st.code;
      if (code === 'ELOOP' || code === 'EMLINK') return 403;
      if (code === 'ENOTDIR' || code === 'ENAMETOOLONG' || code === 'EACCES') return indexError(r, file, st);
      if (!dirTested) {
        const dir = mapped.path.endsWith('/') && mapped.path.length > 1 ? mapped.path.slice(0, -1) : mapped.path;
        const ds = await statErr(dir);
        if (!(ds instanceof fs.Stats)) {
          if (ds.code === 'ELOOP' || ds.code === 'EMLINK') return 403;
          if (ds.code === 'ENOENT') return indexError(r, file, ds);
          if (ds.code !== 'EACCES') {
            logError(r, 'crit', `stat() "${dir}" failed (${errText(ds)})`);
            return 500;
          }
        } else if (!ds.isDirectory()) {
          logError(r, 'alert', `"${dir}" is not a directory`);
          return 500;
        }
        dirTested = true;
      }
      if (code === 'ENOENT') continue;
      logError(r, 'crit', `stat() "${file}" failed (${errText(st)})`);
      return 500;
    }
    return internalRedirect(r, r.uri + name, r.args, r.hasArgs, 'index');
  }
  return undefined;
}

function indexError(r: HttpRequest, file: string, err: NodeJS.ErrnoException): Outcome {
  if (err.code === 'EACCES') {
    logError(r, 'error', `"${file}" is forbidden (${errText(err)})`);
    return 403;
  }
  if (r.loc.logNotFound !== false) logError(r, 'error', `"${file}" is not found (${errText(err)})`);
  return 404;
}

export function outsideAlias(r: HttpRequest, mapped: MappedPath): Outcome {
  if (r.loc.logNotFound !== false) {
    logError(r, 'error', `"${mapped.path}" is outside of alias "${mapped.path.slice(0, mapped.root)}"`);
  }
  return 404;
}

/** ngx_http_static_handler. */
function staticHandler(r: HttpRequest): Outcome {
  if (!isGetHeadPost(r.method)) return 405;
  const mapped = mapUriToPath(r);
  if (!mapped) return 500;
  r.filename = mapped.path;
  r.trace?.push({ kind: 'content', handler: 'static', detail: mapped.path });
  if (mapped.outside) return outsideAlias(r, mapped);
  const { cache, maxSize } = openFileCache(r.loc);
  const hit = cache.lookup(mapped.path);
  const file = hit ? hit.fsPath : fsPath(mapped.path);
  const opened = hit ? { fd: -1, st: hit.st } : openFile(file);
  if (!('fd' in opened)) return openFailed(r, opened.call, mapped.path, opened.err);
  const { fd, st } = opened;
  if (st.isDirectory()) {
    closeFile(fd);
    r.out.location = r.uri + '/' + (r.hasArgs && r.args !== '' ? '?' + r.args : '');
    return 301;
  }
  if (!st.isFile()) {
    closeFile(fd);
    logError(r, 'crit', `"${mapped.path}" is not a regular file`);
    return 404;
  }
  if (r.method === 'POST') {
    closeFile(fd);
    return 405;
  }
  const discarded = discardRequestBody(r);
  if (discarded !== undefined) {
    closeFile(fd);
    return discarded;
  }
  if (r.clientGone) {
    closeFile(fd);
    return 499;
  }
  const mtime = Math.floor(st.mtimeMs / 1000);
  r.status = 200;
  r.out.contentLength = st.size;
  r.out.lastModified = mtime;
  if (staticLocConf(r.loc).etag) r.out.etag = hit ? (hit.etag ??= etagOf(mtime, st.size)) : etagOf(mtime, st.size);
  r.out.contentType = contentType(r.loc, r.uri);
  r.out.allowRanges = true;
  const rc = sendHeader(r);
  if (rc !== DONE) {
    closeFile(fd);
    return rc;
  }
  const ranges = r.ctx.ranges as Array<[number, number]> | undefined;
  if (r.headerOnly || st.size === 0 || (ranges && ranges.length > 1 && !r.ctx.multipart)) {
    closeFile(fd);
    r.res.end();
    return DONE;
  }
  const whole = hit ? hit.body : st.size <= WHOLE_READ_MAX ? readWhole(fd, st.size) : undefined;
  if (whole) {
    closeFile(fd);
    if (!hit && st.size <= maxSize) cache.store(mapped.path, st, whole, file);
    // the gzip filter may keep what it makes of these bytes with them
    if (hit) r.ctx.cachedFile = hit;
    sendBuffer(r, whole, ranges);
  } else sendStream(r, fd, ranges, st.size);
  return DONE;
}

/** ngx_http_static_handler's ETag: mtime and size in hex */
const etagOf = (mtime: number, size: number): string => `"${mtime.toString(16)}-${size.toString(16)}"`;

function openFailed(r: HttpRequest, call: string, p: string, e: NodeJS.ErrnoException): Outcome {
  let status: number;
  let level: 'error' | 'crit' = 'error';
  switch (e.code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ENAMETOOLONG':
      status = 404;
      break;
    case 'EACCES':
    case 'EMLINK':
    case 'ELOOP':
      status = 403;
      break;
    default:
      status = 500;
      level = 'crit';
  }
  if (status !== 404 || r.loc.logNotFound !== false) logError(r, level, `${call} "${p}" failed (${errText(e)})`);
  return status;
}
