import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfError, sysErrorText, type LogLevel } from '../conf/errors';
import { fsPath } from '../conf/bytes';
import type { Cycle } from '../conf/load';
import { createPaths, errorLogsOf, logFilesOf, touch } from './files';
import { ErrorLog } from './error-log';
import { Console } from './console';
import { loadRecorded, type ConfigFiles, type LoadOptionsWithLog } from './protocol';
import { SingleProcess } from './single-process';
import { MasterProcess } from './master-process';

// The process that was started (nginx's main() and the signal half of
// ngx_master_process_cycle): load the configuration, daemonize, start
// serving — workers (master_process on, the default) or itself (off) —
// write the pid file once every listener is bound, then act on signals:
// HUP reload, USR1 reopen, QUIT graceful stop, TERM/INT fast stop.

export type StartOptions = LoadOptionsWithLog;

/** Says a message: in the error log, and on the terminal while starting. */
export type Say = (level: LogLevel, message: string) => void;

/** How a configuration is served: by this process itself, or by its workers. */
export interface ProcessModel {
  /** Binds and serves the cycle; false once it has said why not. */
  start(cycle: Cycle, files: ConfigFiles): Promise<boolean>;
  /** The new cycle serves from now on; false (logged) leaves the old one serving. */
  reload(cycle: Cycle, files: ConfigFiles): Promise<boolean>;
  reopen(): void;
  stop(graceful: boolean): Promise<void>;
}

const DAEMON_ENV = 'NODINX_DAEMONIZED';

export class Master {
  private cycle!: Cycle;
  private readonly errorLog = new ErrorLog();
  private model!: ProcessModel;
  private pidFile?: string;
  private stopping?: 'graceful' | 'fast';
  private starting = true;
  private reloads: Promise<void> = Promise.resolve();
  private reloadQueued = false;
  private readonly daemonized = process.env[DAEMON_ENV] !== undefined;

  constructor(
    private readonly opts: StartOptions,
    private readonly out: Console,
  ) {}

  /** Starts; resolves with the exit status once the server has stopped. */
  async run(): Promise<number> {
    let files: ConfigFiles;
    try {
      ({ cycle: this.cycle, files } = loadRecorded(this.opts));
    } catch (e) {
      if (!(e instanceof ConfError)) throw e;
      this.out.error(e.text);
      this.logToDefault(e);
      return 1;
    }
    for (const w of this.cycle.warnings) this.out.error(w.text);
    try {
      createPaths(this.cycle);
      // ngx_open_files: every log is created before anything starts; one that cannot be stops the start
      for (const file of logFilesOf(this.cycle, this.opts.errorLogOption)) touch(file);
    } catch (e) {
      if (!(e instanceof ConfError)) throw e;
      this.out.error(e.text);
      this.logToDefault(e);
      return 1;
    }
    try {
      this.errorLog.open(errorLogsOf(this.cycle, this.opts.errorLogOption));
    } catch (e) {
      this.out.error(`[emerg] open() "${(e as NodeJS.ErrnoException).path}" failed ${sysErrorText(e as NodeJS.ErrnoException)}`);
      return 1;
    }
    if (this.cycle.core.daemon !== false && !this.daemonized) return this.daemonize();

    const say: Say = (level, message) => {
      // nginx says on the terminal what stops it from starting; progress only in the log
      if (this.starting && level !== 'notice') this.out.error(`[${level}] ${message}`);
      this.errorLog.log(level, message);
    };
    const single = this.cycle.core.masterProcess === false;
    this.model = single ? new SingleProcess(this.errorLog, say) : new MasterProcess(this.errorLog, say, this.opts, this.daemonized);
    if (!(await this.model.start(this.cycle, files))) return 1;
    try {
      this.writePid();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      say('emerg', `open() "${err.path}" failed ${sysErrorText(err)}`);
      await this.model.stop(false);
      return 1;
    }
    this.starting = false;
    if (!single) process.title = `nodinx: master process ${process.argv.slice(1).join(' ')}`;
    this.notifyParent({ ready: true });
    if (this.daemonized) this.out.detach();
    return new Promise<number>((resolve) => this.handleSignals(resolve));
  }

  private logToDefault(e: ConfError): void {
    const log = new ErrorLog();
    try {
      log.open(errorLogsOf({ prefix: path.resolve(this.opts.prefix), core: { errorLogs: [] } } as unknown as Cycle, this.opts.errorLogOption));
      if (!log.writesToStderr) log.log(e.level, e.message);
      log.close();
    } catch {
      // nginx, too, only says it on stderr when the log cannot be opened
    }
  }

  private pidPath(cycle: Cycle): string {
    return cycle.core.pid ?? path.join(cycle.prefix, 'logs/nginx.pid');
  }

  private writePid(): void {
    const file = this.pidPath(this.cycle);
    fs.writeFileSync(fsPath(file), `${process.pid}\n`);
    this.pidFile = file;
  }

  private removePid(): void {
    if (!this.pidFile) return;
    try {
      // only our own: a newer nodinx may have taken the file over
      if (fs.readFileSync(fsPath(this.pidFile), 'utf8').trim() === String(process.pid)) fs.unlinkSync(fsPath(this.pidFile));
    } catch {
      // already gone
    }
  }

  private handleSignals(resolve: (code: number) => void): void {
    const stop = async (graceful: boolean, signal: string): Promise<void> => {
      if (this.stopping === 'fast' || (this.stopping && graceful)) return;
      const first = this.stopping === undefined;
      this.stopping = graceful ? 'graceful' : 'fast';
      this.errorLog.log('notice', `signal ${signal} received, ${graceful ? 'shutting down' : 'exiting'}`);
      await this.model.stop(graceful);
      // a TERM after a QUIT hurries what the QUIT started, which says goodbye
      if (!first) return;
      this.removePid();
      this.errorLog.log('notice', 'exit');
      this.errorLog.close();
      resolve(0);
    };
    process.on('SIGQUIT', () => void stop(true, '3 (SIGQUIT)'));
    process.on('SIGTERM', () => void stop(false, '15 (SIGTERM)'));
    process.on('SIGINT', () => void stop(false, '2 (SIGINT)'));
    // one reload at a time; HUPs that come meanwhile make one more (it reads the latest files)
    process.on('SIGHUP', () => {
      if (this.reloadQueued) return;
      this.reloadQueued = true;
      this.reloads = this.reloads.then(() => {
        this.reloadQueued = false;
        return this.reload();
      }).catch((e: Error) => this.errorLog.log('alert', `reload failed: ${e.stack ?? e}`));
    });
    process.on('SIGUSR1', () => this.reopen());
    // nginx uses these for binary upgrades; nodinx has none, and must not die of them
    process.on('SIGUSR2', () => this.errorLog.log('notice', 'signal 12 (SIGUSR2) ignored: no binary upgrade in nodinx'));
    process.on('SIGWINCH', () => this.errorLog.log('notice', 'signal 28 (SIGWINCH) ignored'));
  }

  private async reload(): Promise<void> {
    if (this.stopping) return;
    this.errorLog.log('notice', 'signal 1 (SIGHUP) received, reconfiguring');
    this.errorLog.log('notice', 'reconfiguring');
    let cycle: Cycle;
    let files: ConfigFiles;
    try {
      ({ cycle, files } = loadRecorded(this.opts));
      createPaths(cycle);
    } catch (e) {
      if (!(e instanceof ConfError)) throw e;
      // nginx keeps serving the old configuration and says why in the log
      this.errorLog.log(e.level, e.message);
      return;
    }
    const newLog = new ErrorLog();
    try {
      newLog.open(errorLogsOf(cycle, this.opts.errorLogOption));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      this.errorLog.log('emerg', `open() "${err.path}" failed ${sysErrorText(err)}`);
      return;
    }
    newLog.close();
    if (this.stopping || !(await this.model.reload(cycle, files))) return;
    this.errorLog.open(errorLogsOf(cycle, this.opts.errorLogOption));
    const oldPid = this.pidPath(this.cycle);
    this.cycle = cycle;
    if (this.pidPath(cycle) !== oldPid) {
      this.removePid();
      this.writePid();
    }
  }

  private reopen(): void {
    this.errorLog.log('notice', 'signal 10 (SIGUSR1) received, reopening logs');
    this.errorLog.log('notice', 'reopening logs');
    for (const failure of this.errorLog.reopen()) this.errorLog.log('emerg', failure);
    this.model.reopen();
  }

  private notifyParent(msg: object): void {
    if (process.send) process.send(msg);
    if (this.daemonized && process.connected) process.disconnect();
  }

  /**
   * `daemon on`: a detached copy of this command does the work; this process
   * waits until it is listening (or has failed, saying why) and exits, as
   * nginx's foreground process does after fork().
   */
  private daemonize(): Promise<number> {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, [DAEMON_ENV]: '1' },
    });
    this.errorLog.close();
    return new Promise((resolve) => {
      child.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
      child.on('message', (m: { ready?: boolean }) => {
        if (m.ready) {
          child.stderr!.destroy();
          child.unref();
          resolve(0);
        }
      });
      child.on('exit', (code) => resolve(code ?? 1));
    });
  }
}
