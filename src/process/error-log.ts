import * as fs from 'node:fs';
import type { LogLevel } from '../conf/errors';
import { LOG_LEVELS, type ErrorLogSpec } from '../conf/core';
import { fsPath } from '../conf/bytes';

// The error log in nginx's line format, so that tools reading nginx's
// error.log read nodinx's:  2024/01/02 03:04:05 [error] 123#123: message

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

const MAX_ERROR_STR = 2048;

export function errorLogTime(d = new Date()): string {
  return `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

interface Sink {
  file: string;
  fd: number;
  level: number;
}

export class ErrorLog {
  private sinks: Sink[] = [];

  /** Opens every log; throws the fs error of the first that cannot be opened. */
  open(specs: ErrorLogSpec[]): void {
    const sinks: Sink[] = [];
    try {
      for (const spec of specs) {
        const fd = spec.file === 'stderr' ? 2 : fs.openSync(fsPath(spec.file), 'a', 0o644);
        sinks.push({ file: spec.file, fd, level: LOG_LEVELS.indexOf(spec.level) });
      }
    } catch (e) {
      for (const s of sinks) if (s.fd !== 2) fs.closeSync(s.fd);
      throw e;
    }
    this.close();
    this.sinks = sinks;
  }

  /** USR1: reopen files by name (logrotate moved them); keep the old fd on failure. */
  reopen(): Error | undefined {
    let failure: Error | undefined;
    for (const s of this.sinks) {
      if (s.fd === 2) continue;
      try {
        const fd = fs.openSync(fsPath(s.file), 'a', 0o644);
        fs.closeSync(s.fd);
        s.fd = fd;
      } catch (e) {
        failure ??= e as Error;
      }
    }
    return failure;
  }

  get writesToStderr(): boolean {
    return this.sinks.some((s) => s.fd === 2);
  }

  log(level: LogLevel, message: string): void {
    const l = LOG_LEVELS.indexOf(level);
    let line = `${errorLogTime()} [${level}] ${process.pid}#${process.pid}: ${message}`;
    // nginx formats a line in NGX_MAX_ERROR_STR (2048) bytes, the line feed included
    if (line.length > MAX_ERROR_STR - 1) line = line.slice(0, MAX_ERROR_STR - 1);
    line += '\n';
    for (const s of this.sinks) {
      if (l > s.level) continue;
      try {
        fs.writeSync(s.fd, Buffer.from(line, 'latin1'));
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
