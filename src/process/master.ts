import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfError, sysErrorText } from '../conf/errors';
import { fsPath } from '../conf/bytes';
import { loadConfig, type Cycle, type LoadOptions } from '../conf/load';
import { createPaths, errorLogsOf } from './files';
import { HttpRuntime } from '../http/runtime';
import { ErrorLog } from './error-log';
import { Console } from './console';

// The running server, after ngx_master_process_cycle: start (bind, then
// pid file), signals (HUP reload, USR1 reopen, QUIT graceful, TERM/INT fast)
// and daemonizing. Worker processes come with the process-model issue;
// today the master serves itself, as nginx does with `master_process off`.

export interface StartOptions extends LoadOptions {
  errorLogOption?: string;
}

const DAEMON_ENV = 'NODINX_DAEMONIZED';
const BIND_TRIES = 5;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class Master {
  private cycle!: Cycle;
  private readonly errorLog = new ErrorLog();
  private readonly runtime = new HttpRuntime({ errorLog: this.errorLog });
  private pidFile?: string;
  private stopping = false;

  constructor(
    private readonly opts: StartOptions,
    private readonly out: Console,
  ) {}

  /** Starts; resolves with the exit status once the server has stopped. */
  async run(): Promise<number> {
    const bootLog = new ErrorLog();
    try {
      this.cycle = loadConfig(this.opts);
    } catch (e) {
      if (!(e instanceof ConfError)) throw e;
      this.out.error(e.text);
      this.logToDefault(bootLog, e);
      return 1;
    }
    for (const w of this.cycle.warnings) this.out.error(w.text);
    try {
      createPaths(this.cycle);
    } catch (e) {
      if (!(e instanceof ConfError)) throw e;
      this.out.error(e.text);
      return 1;
    }
    try {
      this.errorLog.open(errorLogsOf(this.cycle, this.opts.errorLogOption));
    } catch (e) {
      this.out.error(`[emerg] open() "${(e as NodeJS.ErrnoException).path}" failed ${sysErrorText(e as NodeJS.ErrnoException)}`);
      return 1;
    }

    if (this.cycle.core.daemon !== false && process.env[DAEMON_ENV] === undefined) {
      return this.daemonize();
    }

    if (!(await this.bind())) return 1;
    this.applyEnv();
    try {
      this.writePid();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const msg = `open() "${err.path}" failed ${sysErrorText(err)}`;
      this.out.error(`[emerg] ${msg}`);
      this.errorLog.log('emerg', msg);
      await this.runtime.close(false);
      return 1;
    }
    this.notifyParent({ ready: true });
    if (process.env[DAEMON_ENV] !== undefined) this.out.detach();
    return new Promise<number>((resolve) => this.handleSignals(resolve));
  }

  private logToDefault(log: ErrorLog, e: ConfError): void {
    try {
      log.open(errorLogsOf({ prefix: path.resolve(this.opts.prefix), core: { errorLogs: [] } } as unknown as Cycle, this.opts.errorLogOption));
      if (!log.writesToStderr) log.log(e.level, e.message);
      log.close();
    } catch {
      // nginx, too, only says it on stderr when the log cannot be opened
    }
  }

  /** bind() with nginx's five tries half a second apart. */
  private async bind(): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.runtime.listen(this.cycle);
        return true;
      } catch (e) {
        const msg = (e as Error).message;
        this.out.error(`[emerg] ${msg}`);
        this.errorLog.log('emerg', msg);
        if (!/Address already in use/.test(msg) || attempt >= BIND_TRIES) {
          if (attempt >= BIND_TRIES) {
            this.out.error('[emerg] still could not bind()');
            this.errorLog.log('emerg', 'still could not bind()');
          }
          await this.runtime.close(false);
          return false;
        }
        await sleep(500);
      }
    }
  }

  private applyEnv(): void {
    for (const { name, value } of this.cycle.core.env) if (value !== undefined) process.env[name] = value;
    if (this.cycle.core.workerPriority !== undefined) {
      try {
        require('node:os').setPriority(this.cycle.core.workerPriority);
      } catch (e) {
        this.errorLog.log('alert', `setpriority(${this.cycle.core.workerPriority}) failed ${sysErrorText(e as NodeJS.ErrnoException)}`);
      }
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
    const stop = async (graceful: boolean, signal: string) => {
      if (this.stopping && graceful) return;
      this.stopping = true;
      this.errorLog.log('notice', `signal ${signal} received, ${graceful ? 'shutting down' : 'exiting'}`);
      const timeout = this.cycle.core.workerShutdownTimeout;
      const timer = graceful && timeout ? setTimeout(() => void this.runtime.close(false), timeout) : undefined;
      await this.runtime.close(graceful);
      if (timer) clearTimeout(timer);
      this.removePid();
      this.errorLog.log('notice', 'exit');
      this.errorLog.close();
      resolve(0);
    };
    process.on('SIGQUIT', () => void stop(true, '3 (SIGQUIT)'));
    process.on('SIGTERM', () => void stop(false, '15 (SIGTERM)'));
    process.on('SIGINT', () => void stop(false, '2 (SIGINT)'));
    process.on('SIGHUP', () => void this.reload());
    process.on('SIGUSR1', () => this.reopen());
    // nginx uses these for binary upgrades; nodinx has none, and must not die of them
    process.on('SIGUSR2', () => this.errorLog.log('notice', 'signal 12 (SIGUSR2) ignored: no binary upgrade in nodinx'));
    process.on('SIGWINCH', () => this.errorLog.log('notice', 'signal 28 (SIGWINCH) ignored'));
  }

  private async reload(): Promise<void> {
    if (this.stopping) return;
    this.errorLog.log('notice', 'signal 1 (SIGHUP) received, reconfiguring');
    let cycle: Cycle;
    try {
      cycle = loadConfig(this.opts);
    } catch (e) {
      if (!(e instanceof ConfError)) throw e;
      // nginx keeps serving the old configuration and says why in the log
      this.errorLog.log(e.level, e.message);
      return;
    }
    try {
      this.errorLog.open(errorLogsOf(cycle, this.opts.errorLogOption));
      await this.runtime.reload(cycle);
    } catch (e) {
      this.errorLog.log('emerg', (e as Error).message);
      return;
    }
    const oldPid = this.pidPath(this.cycle);
    this.cycle = cycle;
    if (this.pidPath(cycle) !== oldPid) {
      this.removePid();
      this.writePid();
    }
  }

  private reopen(): void {
    this.errorLog.log('notice', 'signal 10 (SIGUSR1) received, reopening logs');
    const failure = this.errorLog.reopen();
    if (failure) this.errorLog.log('alert', `reopen failed: ${failure.message}`);
    this.runtime.reopenLogs();
  }

  private notifyParent(msg: object): void {
    if (process.send) process.send(msg);
    if (process.env[DAEMON_ENV] !== undefined && process.connected) process.disconnect();
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
