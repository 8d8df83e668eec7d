import * as fs from 'node:fs';
import type { LogLevel } from '../conf/errors';
import { LOG_LEVELS, type ErrorLogSpec } from '../conf/core';
import { fsPath } from '../conf/bytes';
import { sysErrorText } from '../conf/errors';

// The error log in nginx's line format, so that tools reading nginx's
// error.log read nodinx's:  2024/01/02 03:04:05 [error] 123#123: message
// and, for `error_log_json` (nodinx's own), the same record as one JSON
// object a line, each of nginx's context fields a member of its own.

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

const MAX_ERROR_STR = 2048;

export function errorLogTime(d = new Date()): string {
  return `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** What ngx_http_log_error appends to a request's message, in its order. */
export interface ErrorContext {
  connection?: number;
  client?: string;
  server?: string;
  request?: string;
  upstream?: string;
  host?: string;
  referrer?: string;
}

/** The context as nginx writes it after the message. */
function contextText(c: ErrorContext): string {
  let s = '';
  if (c.client !== undefined) s += `, client: ${c.client}`;
  if (c.server !== undefined) s += `, server: ${c.server}`;
  if (c.request !== undefined) s += `, request: "${c.request}"`;
  if (c.upstream !== undefined) s += `, upstream: "${c.upstream}"`;
  if (c.host !== undefined) s += `, host: "${c.host}"`;
  if (c.referrer !== undefined) s += `, referrer: "${c.referrer}"`;
  return s;
}

// A message written as text by its caller ("*3 … , client: …"): nginx's
// layout read back, for the JSON log. Values a client chose (request, host,
// referrer) come structured from logError and are never parsed.
const CONNECTION = /^\*(\d+) /;
const TRAILER = /, client: (.*?), server: (.*?)(?:, request: "(.*?)")?(?:, upstream: "(.*?)")?(?:, host: "(.*?)")?(?:, referrer: "(.*?)")?$/;

function splitContext(message: string): [string, ErrorContext] {
  const ctx: ErrorContext = {};
  const m = CONNECTION.exec(message);
  if (m) {
    ctx.connection = Number(m[1]);
    message = message.slice(m[0].length);
  }
  const at = message.indexOf(', client: ');
  const t = at >= 0 ? TRAILER.exec(message.slice(at)) : null;
  if (t) {
    [, ctx.client, ctx.server, ctx.request, ctx.upstream, ctx.host, ctx.referrer] = t;
    message = message.slice(0, at);
  }
  return [message, ctx];
}

/** One JSON line; undefined members are left out. Bytes above 0x7f stay bytes (\u00XX would change them). */
export function jsonLine(level: LogLevel, message: string, ctx: ErrorContext | undefined, time = new Date()): string {
  const [text, parsed] = ctx ? [message, ctx] : splitContext(message);
  const record = {
    time: time.toISOString(),
    level,
    pid: process.pid,
    tid: process.pid,
    connection: parsed.connection,
    message: text.length > MAX_ERROR_STR ? text.slice(0, MAX_ERROR_STR) : text,
    client: parsed.client,
    server: parsed.server,
    request: parsed.request,
    upstream: parsed.upstream,
    host: parsed.host,
    referrer: parsed.referrer,
  };
  return JSON.stringify(record) + '\n';
}

/** What follows "pid#tid: " in nginx's line: "*N message, client: …". */
export function messageText(message: string, ctx: ErrorContext | undefined): string {
  if (!ctx) return message;
  return (ctx.connection !== undefined ? `*${ctx.connection} ` : '') + message + contextText(ctx);
}

/** The nginx line, cut as nginx cuts it: NGX_MAX_ERROR_STR (2048) bytes, the line feed included. */
export function textLine(level: LogLevel, message: string, ctx: ErrorContext | undefined, time = new Date()): string {
  let line = `${errorLogTime(time)} [${level}] ${process.pid}#${process.pid}: ${messageText(message, ctx)}`;
  if (line.length > MAX_ERROR_STR - 1) line = line.slice(0, MAX_ERROR_STR - 1);
  return line + '\n';
}

interface Sink {
  file: string;
  fd: number;
  level: number;
  json: boolean;
}

export class ErrorLog {
  private sinks: Sink[] = [];

  /** Opens every log; throws the fs error of the first that cannot be opened. */
  open(specs: ErrorLogSpec[]): void {
    const sinks: Sink[] = [];
    try {
      for (const spec of specs) {
        const fd = spec.file === 'stderr' ? 2 : fs.openSync(fsPath(spec.file), 'a', 0o644);
        sinks.push({ file: spec.file, fd, level: LOG_LEVELS.indexOf(spec.level), json: spec.json === true });
      }
    } catch (e) {
      for (const s of sinks) if (s.fd !== 2) fs.closeSync(s.fd);
      throw e;
    }
    this.close();
    this.sinks = sinks;
  }

  /**
   * ngx_reopen_files for the error logs (USR1, logrotate moved them): each
   * file by its name again; one that cannot be opened stays on its old file,
   * and nginx's message for it is returned, for the caller to log at emerg.
   */
  reopen(): string[] {
    const failures: string[] = [];
    for (const s of this.sinks) {
      if (s.fd === 2) continue;
      try {
        const fd = fs.openSync(fsPath(s.file), 'a', 0o644);
        fs.closeSync(s.fd);
        s.fd = fd;
      } catch (e) {
        failures.push(`open() "${s.file}" failed ${sysErrorText(e as NodeJS.ErrnoException)}`);
      }
    }
    return failures;
  }

  get writesToStderr(): boolean {
    return this.sinks.some((s) => s.fd === 2 && !s.json);
  }

  /** A line to every log whose level takes it; ctx, when given, is appended as nginx appends it. */
  log(level: LogLevel, message: string, ctx?: ErrorContext): void {
    const l = LOG_LEVELS.indexOf(level);
    const time = new Date();
    let text: Buffer | undefined;
    let json: Buffer | undefined;
    for (const s of this.sinks) {
      if (l > s.level) continue;
      const line = s.json
        ? (json ??= Buffer.from(jsonLine(level, message, ctx, time), 'latin1'))
        : (text ??= Buffer.from(textLine(level, message, ctx, time), 'latin1'));
      try {
        fs.writeSync(s.fd, line);
      } catch {
        // a full disk must not take requests down with it
      }
    }
  }

  close(): void {
    for (const s of this.sinks) if (s.fd !== 2) fs.closeSync(s.fd);
    this.sinks = [];
  }
}
