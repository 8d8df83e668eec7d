import * as fs from 'node:fs';
import { pipeline } from 'node:stream';
import { A, C, type Cf, type Module } from '../conf/module';
import type { HttpModuleHooks } from './core-conf';
import { DONE, type HttpRequest, type Outcome } from './request';
import { errText } from './access-log';
import { logError } from './http-context';
import { sendHeader } from './header-filter';
import { discardRequestBody } from './request-body';
import { contentType, mapUriToPath } from './static-module';
import { gzipOk } from './gzip-ok';
import { gzipConf } from './gzip-module';

// ngx_http_gzip_static_module: "file.gz" beside "file" is sent as it is, with
// the type of "file", Content-Encoding: gzip and the .gz file's own length,
// Last-Modified and (strong) ETag. No Accept-Ranges: nginx does not allow
// ranges of it. It runs before the static handler and declines to it when
// there is no .gz or the client may not have one.

export const GZIP_STATIC = 'http_gzip_static';

type Mode = 'off' | 'on' | 'always';

interface GzipStaticLocConf {
  mode?: Mode;
}

/** ngx_conf_set_enum_slot for on | always | off. */
function setMode(cf: Cf, conf: GzipStaticLocConf): string | undefined {
  if (conf.mode !== undefined) return 'is duplicate';
  const v = cf.args[0];
  if (v !== 'on' && v !== 'off' && v !== 'always') throw cf.error(`invalid value "${v}"`);
  conf.mode = v;
  return undefined;
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // a read-only descriptor: nothing to flush
  }
}

/** ngx_http_gzip_static_handler. */
function gzipStaticHandler(r: HttpRequest): Outcome {
  if (r.method !== 'GET' && r.method !== 'HEAD') return undefined;
  if (r.uri.endsWith('/')) return undefined;
  const mode = (r.loc.confs[GZIP_STATIC] as GzipStaticLocConf | undefined)?.mode ?? 'off';
  if (mode === 'off') return undefined;
  const gz = gzipConf(r);
  const ok = mode === 'always' || gzipOk(r, gz);
  if (!gz.vary && !ok) return undefined;
  const mapped = mapUriToPath(r);
  if (!mapped) return 500;
  // an alias that would climb out is the static handler's to refuse
  if (mapped.outside) return undefined;
  const file = mapped.path + '.gz';
  let fd: number;
  let st: fs.Stats;
  try {
    fd = fs.openSync(Buffer.from(file, 'latin1'), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      st = fs.fstatSync(fd);
    } catch (e) {
      closeQuietly(fd);
      throw e;
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR' || err.code === 'ENAMETOOLONG') return undefined;
    const level = err.code === 'EACCES' || err.code === 'EMLINK' || err.code === 'ELOOP' ? 'error' : 'crit';
    logError(r, level, `open() "${file}" failed (${errText(err)})`);
    return undefined;
  }
  // a .gz exists: the answer depends on Accept-Encoding whichever body goes out
  if (gz.vary) r.ctx.gzipVary = true;
  if (!ok || st.isDirectory()) {
    closeQuietly(fd);
    return undefined;
  }
  if (!st.isFile()) {
    closeQuietly(fd);
    logError(r, 'crit', `"${file}" is not a regular file`);
    return 404;
  }
  const discarded = discardRequestBody(r);
  if (discarded !== undefined) {
    closeQuietly(fd);
    return discarded;
  }
  r.trace?.push({ kind: 'content', handler: 'gzip_static', detail: file });
  const mtime = Math.floor(st.mtimeMs / 1000);
  r.status = 200;
  r.out.contentLength = st.size;
  r.out.lastModified = mtime;
  r.out.etag = `"${mtime.toString(16)}-${st.size.toString(16)}"`;
  r.out.contentType = contentType(r.loc, r.uri);
  // the entry itself: a 304 takes it out again (see the gzip header filter)
  const encoding: [string, string] = ['Content-Encoding', 'gzip'];
  r.out.headers.push(encoding);
  r.ctx.contentEncoding = encoding;
  const rc = sendHeader(r);
  if (rc !== DONE) {
    // a 412 or 416 goes out as an error page, not as the .gz
    const i = r.out.headers.indexOf(encoding);
    if (i >= 0) r.out.headers.splice(i, 1);
    r.ctx.contentEncoding = undefined;
  }
  if (rc !== DONE || r.headerOnly || st.size === 0) {
    closeQuietly(fd);
    if (rc === DONE) r.res.end();
    return rc;
  }
  const rs = fs.createReadStream('', { fd, autoClose: false });
  rs.on('data', (chunk: string | Buffer) => {
    r.bodyBytesSent += chunk.length;
  });
  pipeline(rs, r.res, () => closeQuietly(fd));
  return DONE;
}

export const gzipStaticModule: Module & HttpModuleHooks = {
  name: GZIP_STATIC,
  provides: ['http_gzip_static'],
  type: 'http',
  createLoc: (): GzipStaticLocConf => ({}),
  mergeLoc(parent: GzipStaticLocConf, child: GzipStaticLocConf) {
    child.mode ??= parent.mode;
  },
  handlers: { file: gzipStaticHandler },
  commands: [{ name: 'gzip_static', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | A.TAKE1, set: setMode }],
};
