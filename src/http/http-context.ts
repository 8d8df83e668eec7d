import type { LogLevel } from '../conf/errors';
import type { ErrorLogSpec } from '../conf/core';
import type { Cycle } from '../conf/load';
import { ErrorLog } from '../process/error-log';
import type { HttpMainConf } from './core-module';
import { LOG, type LogLocConf } from './log-module';
import type { HttpRequest } from './request';
import { AccessLogs } from './access-log';
import { headerIn } from './core-variables';

// What the requests of one cycle share — its config and its logs — and the
// two ways a request writes to them: ngx_http_log_error for the error log,
// ngx_http_log_request for the access logs once it is finished.

/** What requests of one cycle share: its config and its logs. */
export class HttpContext {
  readonly main: HttpMainConf;
  readonly prefix: string;
  readonly accessLogs: AccessLogs;
  private readonly errorLogs = new Map<ErrorLogSpec[], ErrorLog>();

  constructor(readonly cycle: Cycle, readonly errorLog: ErrorLog) {
    this.main = cycle.http!;
    this.prefix = cycle.prefix;
    this.accessLogs = new AccessLogs((message) => this.errorLog.log('alert', message));
  }

  /** The error log of a location (`error_log` inside http), else the main one. */
  errorLogFor(specs: ErrorLogSpec[] | undefined): ErrorLog {
    if (!specs || specs.length === 0) return this.errorLog;
    let log = this.errorLogs.get(specs);
    if (!log) {
      log = new ErrorLog();
      try {
        log.open(specs);
      } catch (e) {
        this.errorLog.log('alert', `could not open error log: ${(e as Error).message}`);
        log = this.errorLog;
      }
      this.errorLogs.set(specs, log);
    }
    return log;
  }

  reopen(): void {
    this.accessLogs.reopen();
    for (const log of this.errorLogs.values()) if (log !== this.errorLog) log.reopen();
  }

  close(): void {
    this.accessLogs.close();
    for (const log of this.errorLogs.values()) if (log !== this.errorLog) log.close();
    this.errorLogs.clear();
  }
}

/** ngx_http_log_error: the message, then client, server, request, host. */
export function logError(r: HttpRequest, level: LogLevel, message: string, action?: string): void {
  const log = r.conn.ctx.errorLogFor(r.loc?.errorLogs);
  let line = `*${r.conn.id} ${message}`;
  if (action) line += ` while ${action}`;
  line += `, client: ${r.conn.remoteAddr}, server: ${r.server?.core.names[0]?.name ?? ''}`;
  if (r.requestLine) line += `, request: "${r.requestLine}"`;
  // ngx_http_log_error_handler: the upstream a proxied request is talking to
  const upstream = (r.ctx.upstream as { logText?: string } | undefined)?.logText;
  if (upstream !== undefined) line += `, upstream: "${upstream}"`;
  const host = headerIn(r, 'host');
  if (host !== undefined) line += `, host: "${host}"`;
  const referer = headerIn(r, 'referer');
  if (referer !== undefined) line += `, referrer: "${referer}"`;
  log.log(level, line);
}

/** ngx_http_log_request: the access logs of the final location. */
export function logRequest(r: HttpRequest): void {
  const loc = r.loc ?? r.server?.core.loc;
  if (!loc) return;
  const conf = loc.confs[LOG] as LogLocConf | undefined;
  if (!conf?.logs || conf.off) return;
  r.conn.ctx.accessLogs.log(r, conf.logs);
}
