import * as fs from 'node:fs';
import type { HttpRequest } from './request';
import { logError } from './http-context';

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

/** nginx reads a file through output_buffers (2 x 32k): 32 KiB at a time, from the start of the range. */
const READ_SIZE = 32 * 1024;

/**
 * The file ended before the length sent in the head (it was truncated
 * while being sent): nginx's alert from ngx_output_chain_copy_buf (a read
 * that came back short) or, with sendfile, from ngx_linux_sendfile_chain.
 * The caller closes the connection, as nginx does.
 */
function truncated(r: HttpRequest, file: string, n: number, size: number, pos: number): void {
  const msg = r.loc.sendfile
    ? `sendfile() reported that "${file}" was truncated at ${pos}`
    : `pread() read only ${n} of ${size} from "${file}"`;
  logError(r, 'alert', msg, 'sending response to client');
}

/**
 * The bytes start..end of the descriptor to the response, READ_SIZE at a
 * time, with backpressure; then next(), or an alert and a closed
 * connection if the file came up short.
 */
function sendRange(r: HttpRequest, fd: number, file: string, start: number, end: number, next: () => void, done: () => void): fs.ReadStream {
  const res = r.res;
  const want = end - start;
  let got = 0;
  let failed = false;
  const rs = fs.createReadStream('', { fd, start, end: end - 1, autoClose: false, highWaterMark: READ_SIZE });
  const fail = (n: number, size: number): void => {
    failed = true;
    truncated(r, file, n, size, start + got);
    stopReading(rs, done);
    res.destroy();
  };
  rs.on('data', (chunk: string | Buffer) => {
    const size = Math.min(READ_SIZE, want - got);
    // a short read: nginx drops the buffer and gives up
    if (chunk.length < size) return fail(chunk.length, size);
    got += chunk.length;
    r.bodyBytesSent += chunk.length;
    if (!res.write(chunk)) {
      rs.pause();
      res.once('drain', () => rs.resume());
    }
  });
  rs.on('end', () => {
    if (failed) return;
    if (got < want) fail(0, Math.min(READ_SIZE, want - got));
    else next();
  });
  rs.on('error', () => {
    res.destroy();
    stopReading(rs, done);
  });
  return rs;
}

/** The descriptor is closed once no read on it is in flight: its number could be another file's by then. */
function stopReading(rs: fs.ReadStream, done: () => void): void {
  if (rs.closed) return done();
  rs.once('close', done);
  rs.destroy();
}

/** The body streamed from the descriptor with backpressure; closes it when done. */
export function sendStream(r: HttpRequest, fd: number, ranges: Array<[number, number]> | undefined, size: number, file = r.filename ?? ''): void {
  const res = r.res;
  let closed = false;
  const done = (): void => {
    if (closed) return;
    closed = true;
    closeFile(fd);
  };
  let current: fs.ReadStream | undefined;
  // the client went away: stop reading
  res.once('close', () => (current ? stopReading(current, done) : done()));
  if (!ranges || ranges.length === 1) {
    const [start, end] = ranges ? ranges[0] : [0, size];
    current = sendRange(r, fd, file, start, end, () => {
      res.end();
      done();
    }, done);
    return;
  }
  // multipart/byteranges: each range after its part head
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
    current = sendRange(r, fd, file, start, end, next, done);
  };
  next();
}
