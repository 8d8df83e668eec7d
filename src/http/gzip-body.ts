import * as zlib from 'node:zlib';
import type { HttpResponse } from './response';
import type { HttpRequest } from './request';
import type { CachedFile } from './open-file-cache';

// ngx_http_gzip_body_filter: the body goes through zlib (the library nginx
// links) on its way to the client, a chunk at a time. Content handlers write
// to r.res, so the filter takes the place of its write and end: what they
// write is deflated and the gzip stream is written to the real response.
// Backpressure runs both ways: a full socket pauses the deflate output, and a
// full deflate input tells the handler to wait for 'drain', as a full socket
// would.

export interface GzipParams {
  level: number;
  /** deflate's window bits and memLevel (gzip_window, gzip_hash; nginx shrinks them for a short body) */
  windowBits: number;
  memLevel: number;
}

type Cb = (err?: Error | null) => void;
type WriteFn = (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;
type EndFn = (chunk?: unknown, encoding?: unknown, cb?: unknown) => HttpResponse;

/** ngx_http_gzip_filter_memory: a smaller window for a body known to be short. */
export function gzipParams(level: number, contentLength: number, windowBits = 15, memLevel = 8): GzipParams {
  if (contentLength > 0) {
    // the actual zlib window is smaller by 262 bytes
    while (contentLength < (1 << (windowBits - 1)) - 262) {
      windowBits--;
      memLevel--;
    }
    if (memLevel < 1) memLevel = 1;
  }
  // zlib refuses an 8-bit window for a gzip stream (nginx never gets there either: 9 is its floor in practice)
  return { level, windowBits: Math.max(windowBits, 9), memLevel };
}

function toBuffer(chunk: unknown, encoding: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk), typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
}

interface ZlibHandle {
  writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
  reset(): void;
}
type SyncEngine = zlib.Gzip & { _handle?: ZlibHandle; _writeState?: Uint32Array };
const engines = new Map<string, SyncEngine>();
const OUT_CHUNK = 64 * 1024;
const MAX_ENGINES = 16;

/**
 * A whole body deflated at once. zlib.gzipSync makes a stream object and a
 * deflate state (a few hundred KiB) per call, then closes it; one engine per
 * set of parameters, reset after each body, does without. It drives the
 * zlib handle as gzipSync does inside (node:zlib's processChunkSync); where
 * that handle is not what it expects, gzipSync does the work.
 */
export function gzipWhole(buf: Buffer, opts: zlib.ZlibOptions): Buffer {
  const key = `${opts.level}/${opts.windowBits}/${opts.memLevel}`;
  let e = engines.get(key);
  if (e === undefined) {
    e = zlib.createGzip(opts) as SyncEngine;
    if (typeof e._handle?.writeSync !== 'function' || !(e._writeState instanceof Uint32Array)) return zlib.gzipSync(buf, opts);
    // a few parameter sets are in use at once (levels, windows shrunk for short bodies)
    if (engines.size >= MAX_ENGINES) {
      const [oldKey, old] = engines.entries().next().value as [string, SyncEngine];
      engines.delete(oldKey);
      old.close();
    }
    engines.set(key, e);
  }
  const handle = e._handle!;
  const state = e._writeState!;
  const chunks: Buffer[] = [];
  let total = 0;
  let inOff = 0;
  let availIn = buf.length;
  let failed = true;
  try {
    for (;;) {
      const out = Buffer.allocUnsafe(OUT_CHUNK);
      handle.writeSync(zlib.constants.Z_FINISH, buf, inOff, availIn, out, 0, OUT_CHUNK);
      const have = OUT_CHUNK - state[0];
      if (have > 0) chunks.push(out.subarray(0, have));
      total += have;
      inOff += availIn - state[1];
      availIn = state[1];
      if (state[0] !== 0) break;
    }
    failed = false;
  } finally {
    if (failed) {
      engines.delete(key);
      e.close();
    } else handle.reset();
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
}

/**
 * A cached file's whole body compressed once per set of parameters and kept
 * with it: the cache entry goes when the file changes (open-file-cache.ts),
 * and deflate makes the same bytes from the same input every time, so the
 * client gets what compressing it now would give.
 */
function gzipCached(r: HttpRequest, buf: Buffer, opts: zlib.ZlibOptions): Buffer {
  const cf = r.ctx.cachedFile as CachedFile | undefined;
  if (cf === undefined || cf.body !== buf) return gzipWhole(buf, opts);
  const key = `${opts.level}/${opts.windowBits}/${opts.memLevel}`;
  let out = cf.gzipped?.get(key);
  if (out === undefined) {
    out = gzipWhole(buf, opts);
    (cf.gzipped ??= new Map()).set(key, out);
  }
  return out;
}

/** Compresses everything the handler writes to r.res from now on. */
export function compressBody(r: HttpRequest, params: GzipParams): void {
  const res = r.res;
  // beneath the charset filter when it recodes: it runs first in nginx's chain
  const below = r.ctx.bodyBelowCharset as { write: WriteFn; end: EndFn } | undefined;
  const write = below ? below.write : (res.write.bind(res) as WriteFn);
  const end = below ? below.end : (res.end.bind(res) as EndFn);
  const opts = { level: params.level, windowBits: params.windowBits, memLevel: params.memLevel, chunkSize: 64 * 1024 };
  let gz: zlib.Gzip | undefined;
  let written = false;
  // $gzip_ratio: what went into deflate and what came out, gzip header and trailer included as nginx counts
  const ratio = { zin: 0, zout: 0 };
  r.ctx.gzipRatio = ratio;
  const endCbs: Cb[] = [];
  // $body_bytes_sent counts the chunked framing Node adds, as nginx counts its own
  const framed = (n: number): number => n + (res.chunkedEncoding ? n.toString(16).length + 4 : 0);
  const LAST_CHUNK = 5;
  let closed = false;
  res.once('close', () => {
    closed = true;
    gz?.destroy();
  });
  // the stream is made on the first write: a body ended in one piece never needs one
  const stream = (): zlib.Gzip => {
    if (gz) return gz;
    const z = (gz = zlib.createGzip(opts));
    z.on('data', (c: Buffer) => {
      r.bodyBytesSent += framed(c.length);
      ratio.zout += c.length;
      if (!write(c)) z.pause();
    });
    z.on('end', () => {
      if (res.chunkedEncoding) r.bodyBytesSent += LAST_CHUNK;
      end(() => {
        for (const cb of endCbs) cb();
      });
    });
    z.on('error', () => res.destroy());
    // the handler waits for 'drain' on the response: a deflate that took its input again is one
    z.on('drain', () => res.emit('drain'));
    res.on('drain', () => z.resume());
    if (closed) z.destroy();
    return z;
  };
  const patched = below ?? (res as unknown as { write: WriteFn; end: EndFn });
  patched.write = (chunk: unknown, encoding?: unknown, cb?: unknown): boolean => {
    if (typeof encoding === 'function') [cb, encoding] = [encoding, undefined];
    const buf = toBuffer(chunk, encoding);
    written = true;
    ratio.zin += buf.length;
    // handlers count what they hand over; the client gets the deflated bytes instead
    r.bodyBytesSent -= buf.length;
    const z = stream();
    if (z.destroyed) return false;
    return z.write(buf, cb as Cb | undefined);
  };
  let ended = false;
  patched.end = (chunk?: unknown, encoding?: unknown, cb?: unknown): HttpResponse => {
    // a second end() is a no-op, as on the response itself
    if (ended) return res;
    ended = true;
    if (typeof chunk === 'function') [cb, chunk] = [chunk, undefined];
    else if (typeof encoding === 'function') [cb, encoding] = [encoding, undefined];
    if (typeof cb === 'function') endCbs.push(cb as Cb);
    const buf = chunk !== undefined && chunk !== null ? toBuffer(chunk, encoding) : undefined;
    if (buf) {
      r.bodyBytesSent -= buf.length;
      ratio.zin += buf.length;
    }
    if (!written) {
      // the whole body in one piece (a small file read at once, an error
      // page): deflated in place as nginx's worker does, without the round
      // trips through the thread pool a stream costs
      if (closed) return res;
      const out = buf ? gzipCached(r, buf, opts) : gzipWhole(Buffer.alloc(0), opts);
      r.bodyBytesSent += framed(out.length) + (res.chunkedEncoding ? LAST_CHUNK : 0);
      ratio.zout += out.length;
      end(out, () => {
        for (const f of endCbs) f();
      });
      return res;
    }
    const z = stream();
    if (!z.destroyed) z.end(buf);
    return res;
  };
}

/** $gzip_ratio: "%ui.%02ui" of in/out, rounded at the third decimal as nginx rounds it. */
export function gzipRatio(r: HttpRequest): string | undefined {
  const c = r.ctx.gzipRatio as { zin: number; zout: number } | undefined;
  if (!c || c.zin <= 0 || c.zout <= 0) return undefined;
  let zint = Math.floor(c.zin / c.zout);
  let zfrac = Math.floor((c.zin * 100) / c.zout) % 100;
  if (Math.floor((c.zin * 1000) / c.zout) % 10 > 4) {
    zfrac++;
    if (zfrac > 99) {
      zint++;
      zfrac = 0;
    }
  }
  return `${zint}.${String(zfrac).padStart(2, '0')}`;
}
