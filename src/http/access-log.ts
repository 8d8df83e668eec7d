import { LogFile, type LogErrorSink } from './log-file';
import type { AccessLog, LogEscape, LogFormat } from './log-module';
import type { HttpRequest } from './request';
import type { Template, VariableGetter } from './variables';

export { errText, strerror } from './log-file';

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

/**
 * ngx_http_log_vars: the variables nginx's log module writes itself and
 * reserves a fixed length for when it measures a line against the space
 * left in a `buffer=` (NGX_INT_T_LEN, NGX_OFF_T_LEN… are 20 on 64 bits).
 */
const RESERVED: Record<string, number> = {
  pipe: 1, time_local: 26, time_iso8601: 25, msec: 24, request_time: 24,
  status: 20, bytes_sent: 20, body_bytes_sent: 20, request_length: 20,
};

interface CompiledFormat {
  ops: Op[];
  escape: LogEscape;
  /** per op, the length nginx reserves for it, 0 for its actual length */
  reserved: number[];
}

const compiled = new WeakMap<LogFormat, CompiledFormat>();

function compileFormat(format: LogFormat): CompiledFormat {
  let c = compiled.get(format);
  if (!c) {
    const t = format.template as Template & { parts: Op[] };
    t.bind();
    const ops = t.parts.slice();
    const reserved = ops.map((op) => (typeof op === 'string' || op.capture !== undefined ? 0 : RESERVED[op.name] ?? 0));
    c = { ops, escape: format.escape, reserved };
    compiled.set(format, c);
  }
  return c;
}

/** What the last formatLine's line would measure, less its length, as nginx measures it for `buffer=`. */
let lineReserve = 0;

/** One log line (without the newline) for a request. */
export function formatLine(format: LogFormat, r: HttpRequest): string {
  const { ops, escape, reserved } = compileFormat(format);
  let line = '';
  lineReserve = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    if (typeof op === 'string') {
      line += op;
      continue;
    }
    const v = op.capture !== undefined ? r.captures?.[op.capture] : op.get?.(r, op.name);
    if (reserved[i] > 0) lineReserve += reserved[i] - (v ?? '-').length;
    if (escape === 'default') line += v === undefined ? '-' : escapeDefault(v);
    else if (escape === 'json') line += v === undefined ? '' : escapeJson(v);
    else line += v ?? '';
  }
  return line;
}

/** Every access log of a cycle, by path; files stay open until reopen/close. */
export class AccessLogs {
  private readonly files = new Map<string, LogFile>();
  /** paths that came from variables */
  private readonly named = new Set<string>();
  private sweep?: NodeJS.Timeout;

  constructor(private readonly onError: LogErrorSink) {}

  /** Writes the request's line to each log of its final location; onError logs in the request's context. */
  log(r: HttpRequest, logs: AccessLog[] | undefined, onError?: LogErrorSink): void {
    if (!logs) return;
    for (const log of logs) {
      if (log.condition) {
        const v = log.condition.run(r);
        if (v === '' || v === '0') continue;
      }
      const path = log.path.isStatic ? log.path.source : log.path.run(r);
      const line = formatLine(log.format, r) + '\n';
      this.file(path, log).write(line, onError, lineReserve);
    }
  }

  private file(path: string, log: AccessLog): LogFile {
    let f = this.files.get(path);
    if (!f) {
      f = new LogFile(path, this.onError, log.buffer ?? 0, log.flush ?? 0, log.gzip ?? 0);
      this.files.set(path, f);
      if (!log.path.isStatic) {
        this.named.add(path);
        this.startSweep();
      }
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
          this.named.delete(path);
        }
      }
    }, 10000);
    this.sweep.unref();
  }

  /** Opens every log whose path is fixed, as nginx does at startup (creating the files). */
  openStatic(logs: Iterable<AccessLog>): void {
    for (const log of logs) if (log.path.isStatic) this.file(log.path.source, log).open();
  }

  /**
   * USR1: each file by its name again; one that cannot be opened keeps its
   * old file, and says why. Files named by variables, which nginx opens per
   * request, are closed: the next request opens them by name.
   */
  reopen(): void {
    for (const [path, f] of this.files) {
      if (this.named.has(path)) {
        f.close();
        this.files.delete(path);
        continue;
      }
      const failure = f.reopen();
      if (failure) this.onError(failure, 'emerg');
    }
  }

  flush(): void {
    for (const f of this.files.values()) f.flush();
  }

  close(): void {
    if (this.sweep) clearInterval(this.sweep);
    for (const f of this.files.values()) f.close();
    this.files.clear();
  }
}
