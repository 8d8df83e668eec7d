import * as fs from 'node:fs';
import type { HttpRequest } from './request';

// The file side of ngx_http_static_handler: open, fstat, and the body on the
// wire. nginx (without aio or threads) opens, stats and reads with blocking
// calls in its worker; so does nodinx. A small file from the page cache
// costs a few microseconds that way, where each promise round trip through
// libuv's thread pool costs tens and its garbage more, so the blocking calls
// are both nginx's behaviour and the fast path. Only a file too large to
// read at once is streamed, from the same descriptor.

/** Files up to this size go out as one buffer read at once (nginx's output_buffers are 2 x 32k, but a
 *  single read of a page-cached file is cheaper than the stream's chunks in Node). */
export const WHOLE_READ_MAX = 256 * 1024;

const O_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

export interface OpenedFile {
  fd: number;
  st: fs.Stats;
}

/** ngx_open_cached_file without a cache: open() then fstat(); the failing call's name with the error. */
export function openFile(p: Buffer): OpenedFile | { call: string; err: NodeJS.ErrnoException } {
  let fd: number;
  try {
    fd = fs.openSync(p, O_FLAGS);
  } catch (e) {
    return { call: 'open()', err: e as NodeJS.ErrnoException };
  }
  try {
    return { fd, st: fs.fstatSync(fd) };
  } catch (e) {
    closeFile(fd);
    return { call: 'fstat()', err: e as NodeJS.ErrnoException };
  }
}

/** Closes a descriptor; -1 (a file served from open_file_cache) has none. */
export function closeFile(fd: number): void {
  if (fd < 0) return;
  try {
    fs.closeSync(fd);
  } catch {
    // EBADF/EIO on close of a read-only descriptor: nothing to undo
  }
}

/** The whole file in one buffer, or undefined when it shrank under us or the read failed. */
export function readWhole(fd: number, size: number): Buffer | undefined {
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  try {
    while (off < size) {
      const n = fs.readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
  } catch {
    return undefined;
  }
  return off === size ? buf : undefined;
}

/** The body from a buffer holding the whole file: all of it, one range or multipart/byteranges. */
export function sendBuffer(r: HttpRequest, buf: Buffer, ranges: Array<[number, number]> | undefined): void {
  const res = r.res;
  if (!ranges || ranges.length === 1) {
    const body = ranges ? buf.subarray(ranges[0][0], ranges[0][1]) : buf;
    r.bodyBytesSent += body.length;
    res.end(body);
    return;
  }
  const parts = r.ctx.multipart as { heads: string[]; tail: string };
  for (let i = 0; i < ranges.length; i++) {
    const [start, end] = ranges[i];
    const head = parts.heads[i];
    r.bodyBytesSent += head.length + (end - start);
    res.write(head, 'latin1');
    res.write(buf.subarray(start, end));
  }
  r.bodyBytesSent += parts.tail.length;
  res.end(parts.tail, 'latin1');
}

/** The body streamed from the descriptor with backpressure; closes it when done. */
export function sendStream(r: HttpRequest, fd: number, ranges: Array<[number, number]> | undefined, size: number): void {
  const res = r.res;
  let closed = false;
  const done = (): void => {
    if (closed) return;
    closed = true;
    closeFile(fd);
  };
  if (!ranges || ranges.length === 1) {
    const [start, end] = ranges ? ranges[0] : [0, -1];
    const want = end >= 0 ? end - start : size;
    let got = 0;
    const rs = fs.createReadStream('', end >= 0 ? { fd, start, end: end - 1, autoClose: false } : { fd, autoClose: false });
    rs.on('data', (chunk: string | Buffer) => {
      r.bodyBytesSent += chunk.length;
      got += chunk.length;
    });
    // a file truncated under us ends short of Content-Length: like nginx
    // ("file was truncated"), close the connection rather than end the response
    rs.pipe(res, { end: false });
    rs.on('end', () => (got < want ? res.destroy() : res.end()));
    rs.on('error', () => res.destroy());
    rs.on('close', done);
    res.on('close', () => rs.destroy());
    return;
  }
  // multipart/byteranges: one read stream per range, each after its part head
  const parts = r.ctx.multipart as { heads: string[]; tail: string };
  let i = 0;
  const next = (): void => {
    if (res.destroyed) return done();
    if (i === ranges.length) {
      r.bodyBytesSent += parts.tail.length;
      res.end(parts.tail, 'latin1');
      return done();
    }
    const [start, end] = ranges[i];
    const head = parts.heads[i++];
    r.bodyBytesSent += head.length;
    res.write(head, 'latin1');
    const rs = fs.createReadStream('', { fd, start, end: end - 1, autoClose: false });
    let got = 0;
    rs.on('data', (chunk: string | Buffer) => {
      r.bodyBytesSent += chunk.length;
      got += chunk.length;
      if (!res.write(chunk)) {
        rs.pause();
        res.once('drain', () => rs.resume());
      }
    });
    rs.on('end', () => {
      if (got < end - start) {
        res.destroy();
        done();
      } else next();
    });
    rs.on('error', () => {
      res.destroy();
      done();
    });
  };
  next();
}
