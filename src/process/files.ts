import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfError, sysErrorText } from '../conf/errors';
import { fsPath } from '../conf/bytes';
import type { Cycle } from '../conf/load';
import type { ErrorLogSpec } from '../conf/core';
import { LOG, type LogLocConf } from '../http/log-module';
import { coreLoc, type LocationConf } from '../http/core-module';

// The files a cycle writes: error and access logs, temp directories. nginx
// opens (creates) them at start and at -t; so does nodinx.

export function defaultErrorLog(prefix: string, option?: string): ErrorLogSpec {
  if (option === 'stderr') return { file: 'stderr', level: 'error', debug: false };
  const file = option === undefined ? 'logs/error.log' : option;
  return { file: path.resolve(prefix, file), level: 'error', debug: false };
}

/** The error logs a cycle writes to (nginx: the configured ones, else the default). */
export function errorLogsOf(cycle: Cycle, option?: string): ErrorLogSpec[] {
  return cycle.core.errorLogs.length > 0 ? cycle.core.errorLogs : [defaultErrorLog(cycle.prefix, option)];
}

/** Static access log paths of every location, to be opened at start. */
export function accessLogPaths(cycle: Cycle): string[] {
  const paths = new Set<string>();
  const visit = (loc: LocationConf): void => {
    const log: LogLocConf = loc.confs[LOG];
    for (const l of log?.logs ?? []) if (l.path.isStatic) paths.add(l.path.source);
    for (const nested of loc.locations) visit(nested);
    for (const named of [] as LocationConf[]) visit(named);
  };
  for (const s of cycle.http?.servers ?? []) {
    visit(coreLoc(s.ctx.loc));
    for (const named of s.core.named.values()) visit(named);
  }
  return [...paths];
}

export function touch(file: string): void {
  try {
    fs.closeSync(fs.openSync(fsPath(file), 'a', 0o644));
  } catch (e) {
    const err = new ConfError(`open() "${file}" failed ${sysErrorText(e as NodeJS.ErrnoException)}`);
    err.afterParse = true;
    throw err;
  }
}

/** ngx_create_paths: the temp directories, not their parents. */
export function createPaths(cycle: Cycle): void {
  for (const dir of (cycle.confs.tempPaths as string[] | undefined) ?? []) {
    try {
      fs.mkdirSync(fsPath(dir), 0o700);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EEXIST') continue;
      throw Object.assign(new ConfError(`mkdir() "${dir}" failed ${sysErrorText(err)}`), { afterParse: true });
    }
  }
}


/**
 * ngx_reopen_files in the master: each log is opened (so created) by the
 * master, and made the workers' user's, for workers that are no longer
 * root to open it by name after it.
 */
export function prepareReopen(files: string[], uid: number | undefined): string[] {
  const failures: string[] = [];
  for (const file of files) {
    try {
      fs.closeSync(fs.openSync(fsPath(file), 'a', 0o644));
    } catch (e) {
      failures.push(`open() "${file}" failed ${sysErrorText(e as NodeJS.ErrnoException)}`);
      continue;
    }
    try {
      if (uid === undefined) continue;
      const st = fs.statSync(fsPath(file));
      if (st.uid !== uid) fs.chownSync(fsPath(file), uid, -1);
      if ((st.mode & 0o600) !== 0o600) fs.chmodSync(fsPath(file), st.mode | 0o600);
    } catch {
      // a file the workers cannot open: their reopen says so
    }
  }
  return failures;
}

export function errorLogFilesOf(cycle: Cycle, errorLogOption?: string): string[] {
  return errorLogsOf(cycle, errorLogOption).map((s) => s.file).filter((f) => f !== 'stderr');
}

/** Every file a cycle logs to by a fixed name: error logs and static access logs, as nginx opens them. */
export function logFilesOf(cycle: Cycle, errorLogOption?: string): string[] {
  return [...new Set([...errorLogFilesOf(cycle, errorLogOption), ...accessLogPaths(cycle)])];
}
