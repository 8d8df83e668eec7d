import * as fs from 'node:fs';
import * as zlib from 'node:zlib';

// An access log file as ngx_http_log_module writes it: blocking write()s, as
// nginx's worker does them, so nothing is ever in flight: a reopen or an exit
// can neither lose nor reorder a line, and a full disk costs no memory. With
// `buffer=` a line is copied into the buffer, written when the next line does
// not fit, when `flush=` elapses, at reopen and at exit. Without it, the
// lines of one event-loop turn go out in one write() at the end of the turn
// (nginx: one per request): 50 busy connections cost one system call, not 50.
// scripts/bench.mjs (BENCH_ONLY=log) measures this against sonic-boom.

export type LogErrorSink = (message: string, level?: 'emerg' | 'alert' | 'crit') => void;

export class LogFile {
  private fd = -1;
  private buf?: Buffer;
  private pos = 0;
  private timer?: NodeJS.Timeout;
  /** unbuffered: this turn's lines, and the context of the first for its error */
  private turn: string[] = [];
  private turnError?: LogErrorSink;
  private turnScheduled?: NodeJS.Immediate;
  /** ngx_http_log_t's error_log_time and disk_full_time, in seconds */
  private errorLogTime = 0;
  private diskFullTime = 0;
  lastUse = Date.now();

  constructor(
    readonly path: string,
    private readonly onError: LogErrorSink,
    private readonly buffer = 0,
    private readonly flushMs = 0,
    private readonly gzip = 0,
  ) {}

  /**
   * Opens the file unless it is open. A log with a fixed name is opened at
   * start (where failing stops the start); one with variables in its name
   * when a request first names it, failing as ngx_http_log_script_write
   * does: crit, in that request's context, the line dropped, the next
   * request trying again.
   */
  open(onError: LogErrorSink = this.onError, level?: 'crit'): boolean {
    if (this.fd >= 0) return true;
    try {
      this.fd = fs.openSync(Buffer.from(this.path, 'latin1'), 'a', 0o644);
      return true;
    } catch (e) {
      onError(`open() "${this.path}" failed (${errText(e)})`, level);
      return false;
    }
  }

  /**
   * ngx_http_log_handler for one log: `line` ends with its line feed;
   * onError gets the request's context; `reserve` is what nginx counts
   * beyond the line's length when it decides whether the line fits.
   */
  write(line: string, onError: LogErrorSink = this.onError, reserve = 0): void {
    const now = Date.now();
    this.lastUse = now;
    // a full disk: nginx skips the log for the rest of the second (slow to fail on some file systems)
    if (Math.floor(now / 1000) === this.diskFullTime) return;
    if (this.fd < 0 && !this.open(onError, 'crit')) return;
    const len = line.length + reserve;
    if (this.buffer > 0) {
      if (len > this.buffer - this.pos) this.writeBuffer(onError);
      if (len <= this.buffer - this.pos) {
        this.buf ??= Buffer.allocUnsafe(this.buffer);
        if (this.pos === 0 && this.flushMs > 0) this.armFlush();
        this.pos += this.buf.write(line, this.pos, 'latin1');
        return;
      }
      // a line longer than the whole buffer goes out on its own, now, to keep the order
      this.writeOut(Buffer.from(line, 'latin1'), onError);
      return;
    }
    if (this.turn.length === 0) {
      this.turnError = onError;
      this.turnScheduled ??= setImmediate(() => this.writeTurn());
    }
    this.turn.push(line);
  }

  private writeTurn(): void {
    this.turnScheduled = undefined;
    if (this.turn.length === 0) return;
    const data = Buffer.from(this.turn.length === 1 ? this.turn[0] : this.turn.join(''), 'latin1');
    this.turn = [];
    this.writeOut(data, this.turnError ?? this.onError);
  }

  private armFlush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.flushMs);
    this.timer.unref();
  }

  /** The buffer's content, a gzip member of its own when gzip= (nginx compresses each write on its own). */
  private takeBuffer(): Buffer | undefined {
    if (this.pos === 0 || !this.buf) return undefined;
    const data = this.buf.subarray(0, this.pos);
    this.pos = 0;
    return this.gzip ? zlib.gzipSync(data, { level: this.gzip }) : data;
  }

  /** A full buffer, written for the request whose line does not fit: ngx_http_log_write's rules. */
  private writeBuffer(onError: LogErrorSink): void {
    const data = this.takeBuffer();
    if (data) this.writeOut(data, onError);
  }

  /**
   * ngx_http_log_flush (flush= timer, reopen, exit): what the buffer holds,
   * now; a failure is logged every time, with no request's context. This
   * turn's unbuffered lines go out first.
   */
  flush(): void {
    if (this.turnScheduled) {
      clearImmediate(this.turnScheduled);
      this.writeTurn();
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const data = this.takeBuffer();
    if (!data || this.fd < 0) return;
    try {
      const n = fs.writeSync(this.fd, data);
      if (n !== data.length) this.onError(`write() to "${this.path}" was incomplete: ${n} of ${data.length}`);
    } catch (e) {
      this.onError(`write() to "${this.path}" failed (${errText(e)})`);
    }
  }

  /** ngx_http_log_write: a failure is logged at most once a minute per file, in the request's context. */
  private writeOut(data: Buffer, onError: LogErrorSink): void {
    const now = Math.floor(Date.now() / 1000);
    if (this.fd < 0) return;
    let n: number;
    try {
      n = fs.writeSync(this.fd, data);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOSPC') this.diskFullTime = now;
      if (now - this.errorLogTime > 59) {
        onError(`write() to "${this.path}" failed (${errText(e)})`);
        this.errorLogTime = now;
      }
      return;
    }
    if (n !== data.length && now - this.errorLogTime > 59) {
      onError(`write() to "${this.path}" was incomplete: ${n} of ${data.length}`);
      this.errorLogTime = now;
    }
  }

  /**
   * ngx_reopen_files for one file (USR1, logrotate moved it): the buffer goes
   * to the old file, then the name is opened again; if it cannot be, the old
   * file stays in use and the error is returned for the caller to log.
   */
  reopen(): string | undefined {
    this.flush();
    let fd: number;
    try {
      fd = fs.openSync(Buffer.from(this.path, 'latin1'), 'a', 0o644);
    } catch (e) {
      return `open() "${this.path}" failed (${errText(e)})`;
    }
    this.closeFd();
    this.fd = fd;
    return undefined;
  }

  /** At exit and when a cycle ends: the buffer is written, then the file closed. */
  close(): void {
    this.flush();
    this.closeFd();
  }

  private closeFd(): void {
    if (this.fd < 0) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // already gone
    }
    this.fd = -1;
  }
}

export function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return `${Math.abs(err.errno ?? 0)}: ${strerror(err.code)}`;
}

const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  ENAMETOOLONG: 'File name too long',
  ELOOP: 'Too many levels of symbolic links',
  EMFILE: 'Too many open files',
  ENFILE: 'Too many open files in system',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  EIO: 'Input/output error',
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  ECONNRESET: 'Connection reset by peer',
  EPIPE: 'Broken pipe',
  EINVAL: 'Invalid argument',
  EEXIST: 'File exists',
  ETIMEDOUT: 'Connection timed out',
  ESRCH: 'No such process',
  EFBIG: 'File too large',
  EDQUOT: 'Disk quota exceeded',
};

export function strerror(code: string | undefined): string {
  return (code && STRERROR[code]) ?? code ?? 'Unknown error';
}
