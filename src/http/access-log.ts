import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import type { AccessLog, LogEscape, LogFormat } from './log-module';
import type { HttpRequest } from './request';
import type { Template, VariableGetter } from './variables';

// ngx_http_log_module at run time: a line per finished request, formatted by
// the log_format template with nginx's escaping, appended to every log of the
// request's final location. Writes are asynchronous and ordered per file;
// `buffer=` holds lines until the buffer fills or `flush=` elapses.

type Op = string | { get?: VariableGetter; name: string; capture?: number };

const HEX = '0123456789ABCDEF';

/** ngx_http_log_escape: '"', '\\', bytes < 0x20 and >= 0x7f as \xHH. */
export function escapeDefault(s: string): string {
  let out: string | undefined;
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c || c < 0x20 || c >= 0x7f) {
      out = (out ?? '') + s.slice(from, i) + '\\x' + HEX[(c >> 4) & 0xf] + HEX[c & 0xf];
      from = i + 1;
    }
  }
  return out === undefined ? s : out + s.slice(from);
}

/** ngx_escape_json: '"' and '\\' backslashed, control bytes as \n… or \u00XX. */
export function escapeJson(s: string): string {
  let out: string | undefined;
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
    let e: string;
    switch (c) {
      case 0x22: e = '\\"'; break;
      case 0x5c: e = '\\\\'; break;
      case 0x0a: e = '\\n'; break;
      case 0x0d: e = '\\r'; break;
      case 0x09: e = '\\t'; break;
      case 0x08: e = '\\b'; break;
      case 0x0c: e = '\\f'; break;
      default: e = '\\u00' + (c >> 4) + '0123456789abcdef'[c & 0xf];
    }
    out = (out ?? '') + s.slice(from, i) + e;
    from = i + 1;
  }
  return out === undefined ? s : out + s.slice(from);
}

/** Config text is UTF-8 read into JS strings; lines are bytes, one char each. */

const compiled = new WeakMap<LogFormat, { ops: Op[]; escape: LogEscape }>();

function compileFormat(format: LogFormat): { ops: Op[]; escape: LogEscape } {
  let c = compiled.get(format);
  if (!c) {
    const t = format.template as Template & { parts: Op[] };
    t.bind();
    c = { ops: t.parts.slice(), escape: format.escape };
    compiled.set(format, c);
  }
  return c;
}

/** One log line (without the newline) for a request. */
export function formatLine(format: LogFormat, r: HttpRequest): string {
  const { ops, escape } = compileFormat(format);
  let line = '';
  for (const op of ops) {
    if (typeof op === 'string') {
      line += op;
      continue;
    }
    const v = op.capture !== undefined ? r.captures?.[op.capture] : op.get?.(r, op.name);
    if (escape === 'default') line += v === undefined ? '-' : escapeDefault(v);
    else if (escape === 'json') line += v === undefined ? '' : escapeJson(v);
    else line += v ?? '';
  }
  return line;
}

/** An append-only file with ordered asynchronous writes and an optional buffer. */
class LogFile {
  private fd = -1;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writing = false;
  private timer?: NodeJS.Timeout;
  private closed = false;
  private reopenPending = false;
  lastUse = Date.now();

  constructor(
    readonly path: string,
    private readonly onError: (message: string) => void,
    private readonly buffer = 0,
    private readonly flushMs = 0,
    private readonly gzip = 0,
  ) {}

  private open(): boolean {
    if (this.fd >= 0) return true;
    try {
      this.fd = fs.openSync(Buffer.from(this.path, 'latin1'), 'a', 0o644);
      return true;
    } catch (e) {
      this.onError(`open() "${this.path}" failed (${errText(e)})`);
      return false;
    }
  }

  write(line: string): void {
    if (this.closed) return;
    this.lastUse = Date.now();
    const b = Buffer.from(line, 'latin1');
    this.pending.push(b);
    this.pendingBytes += b.length;
    if (this.buffer > 0) {
      if (this.pendingBytes < this.buffer) {
        if (this.flushMs > 0 && !this.timer) {
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.drain();
          }, this.flushMs);
          this.timer.unref();
        }
        return;
      }
    }
    this.drain();
  }

  private take(): Buffer | undefined {
    if (this.pending.length === 0) return undefined;
    let data = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    if (this.gzip) data = zlib.gzipSync(data, { level: this.gzip });
    return data;
  }

  /** Starts an asynchronous write of what is pending, one at a time. */
  drain(): void {
    if (this.writing || this.pending.length === 0) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.open()) {
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    const data = this.take()!;
    this.writing = true;
    const fd = this.fd;
    const done = (err: NodeJS.ErrnoException | null, written?: number): void => {
      if (!err && written !== undefined && written < data.length) {
        fs.write(fd, data, written, data.length - written, null, done);
        return;
      }
      this.writing = false;
      if (err) this.onError(`write() to "${this.path}" failed (${errText(err)})`);
      if (this.closed) this.closeFd();
      else {
        if (this.reopenPending) {
          this.reopenPending = false;
          this.closeFd();
          this.open();
        }
        this.drain();
      }
    };
    fs.write(fd, data, 0, data.length, null, done);
  }

  /** Writes what is pending now (shutdown, reopen). */
  flushSync(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.writing) return; // the in-flight write finishes on its own
    const data = this.take();
    if (!data || !this.open()) return;
    try {
      fs.writeSync(this.fd, data);
    } catch (e) {
      this.onError(`write() to "${this.path}" failed (${errText(e)})`);
    }
  }

  /** USR1: the file by its name again (logrotate moved it), created now as nginx does. */
  reopen(): void {
    this.flushSync();
    if (this.writing) {
      this.reopenPending = true;
      return;
    }
    this.closeFd();
    this.open();
  }

  close(): void {
    this.flushSync();
    this.closed = true;
    if (!this.writing) this.closeFd();
  }

  private closeFd(): void {
    if (this.fd >= 0) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already gone
      }
      this.fd = -1;
    }
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
};

export function strerror(code: string | undefined): string {
  return (code && STRERROR[code]) ?? code ?? 'Unknown error';
}

/** Every access log of a cycle, by path; files stay open until reopen/close. */
export class AccessLogs {
  private readonly files = new Map<string, LogFile>();
  private sweep?: NodeJS.Timeout;

  constructor(private readonly onError: (message: string) => void) {}

  /** Writes the request's line to each log of its final location. */
  log(r: HttpRequest, logs: AccessLog[] | undefined): void {
    if (!logs) return;
    for (const log of logs) {
      if (log.condition) {
        const v = log.condition.run(r);
        if (v === '' || v === '0') continue;
      }
      const path = log.path.isStatic ? log.path.source : log.path.run(r);
      this.file(path, log).write(formatLine(log.format, r) + '\n');
    }
  }

  private file(path: string, log: AccessLog): LogFile {
    let f = this.files.get(path);
    if (!f) {
      f = new LogFile(path, this.onError, log.buffer ?? 0, log.flush ?? 0, log.gzip ?? 0);
      this.files.set(path, f);
      if (!log.path.isStatic) this.startSweep();
    }
    return f;
  }

  /** Paths with variables open many files: close the ones idle for a minute. */
  private startSweep(): void {
    if (this.sweep) return;
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const [path, f] of this.files) {
        if (now - f.lastUse > 60000) {
          f.close();
          this.files.delete(path);
        }
      }
    }, 10000);
    this.sweep.unref();
  }

  /** Opens every log whose path is fixed, as nginx does at startup (creating the files). */
  openStatic(logs: Iterable<AccessLog>): void {
    for (const log of logs) {
      if (!log.path.isStatic) continue;
      const f = this.file(log.path.source, log);
      f.drain();
      try {
        fs.closeSync(fs.openSync(log.path.source, 'a', 0o644));
      } catch (e) {
        this.onError(`open() "${log.path.source}" failed (${errText(e)})`);
      }
    }
  }

  reopen(): void {
    for (const f of this.files.values()) f.reopen();
  }

  flush(): void {
    for (const f of this.files.values()) f.flushSync();
  }

  close(): void {
    if (this.sweep) clearInterval(this.sweep);
    for (const f of this.files.values()) f.close();
    this.files.clear();
  }
}
