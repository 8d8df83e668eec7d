import {
  FATAL_EXIT, STATS_FD, loadFromCopy,
  type CycleMessage, type MasterMessage, type WorkerMessage,
} from './protocol';
import { ConfError, sysErrorText } from '../conf/errors';
import type { Cycle } from '../conf/load';
import type { LogLevel } from '../conf/errors';
import { HttpRuntime, type InheritedSocket } from '../http/runtime';
import { ErrorLog } from './error-log';
import { errorLogsOf } from './files';
import { StatsFile, StatsSlot } from './shared-stats';
import { applyPriority, dropPrivileges } from './users';

// A worker process (ngx_worker_process_cycle): the master forks it with the
// configuration's bytes and a copy of each listening socket; it loads the
// configuration, listens on the sockets, becomes the unprivileged user and
// serves until the master says quit (graceful), terminate (at once) or
// reopen. Signals sent to it directly mean what they mean to nginx's.

class Worker {
  private setup?: CycleMessage;
  private readonly sockets = new Map<string, InheritedSocket>();
  private readonly errorLog = new ErrorLog();
  private runtime?: HttpRuntime;
  private slot?: StatsSlot;
  private cycle?: Cycle;
  private started = false;
  private exiting = false;

  onMessage(msg: MasterMessage, handle?: InheritedSocket): void {
    switch (msg.type) {
      case 'cycle':
        this.setup = msg;
        break;
      case 'socket':
        if (handle) this.sockets.set(msg.key, handle);
        break;
      case 'quit':
        return void this.shutdown(true);
      case 'terminate':
        return void this.shutdown(false);
      case 'reopen':
        return this.reopen();
    }
    if (!this.started && this.setup && this.setup.binds.every((k) => this.sockets.has(k))) {
      this.started = true;
      void this.start(this.setup);
    }
  }

  private async start(setup: CycleMessage): Promise<void> {
    if (setup.daemon) process.stderr.on('error', () => undefined);
    let cycle: Cycle;
    try {
      cycle = loadFromCopy(setup.load, setup.files);
    } catch (e) {
      if (e instanceof ConfError) return this.fatal(e.level, e.message);
      throw e;
    }
    this.cycle = cycle;
    try {
      this.errorLog.open(errorLogsOf(cycle, setup.load.errorLogOption));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return this.fatal('emerg', `open() "${err.path}" failed ${sysErrorText(err)}`);
    }
    applyPriority(cycle.core, (m) => this.errorLog.log('alert', m));
    const file = new StatsFile(STATS_FD);
    this.slot = new StatsSlot(file, setup.slot, () => this.runtime!.stats);
    const runtime = new HttpRuntime({
      errorLog: this.errorLog,
      status: () => this.slot!.total(),
      countersChanged: () => this.slot!.changed(),
    });
    // a worker in a slot counts on from the totals of the one before it
    const before = this.slot.inherited();
    Object.assign(runtime.stats, { accepted: before.accepted, handled: before.handled, requests: before.requests });
    this.runtime = runtime;
    try {
      await runtime.listen(cycle, this.sockets);
      // the access logs open now, while this worker may still open them
      runtime.reopenLogs();
      // ngx_worker_process_init: the user last, once nothing needs root
      if (setup.credentials) dropPrivileges(setup.credentials);
    } catch (e) {
      return this.fatal('emerg', (e as Error).message);
    }
    process.title = 'nodinx: worker process';
    this.send({ type: 'ready' });
  }

  /** The master logs it, with the exit that follows. */
  private fatal(level: LogLevel, message: string): void {
    // the message out first, then go
    this.send({ type: 'fatal', level, message }, () => process.exit(FATAL_EXIT));
  }

  private send(msg: WorkerMessage, then?: () => void): void {
    if (process.connected) process.send!(msg, undefined, {}, () => then?.());
    else then?.();
  }

  /** NGX_CMD_QUIT / NGX_CMD_TERMINATE */
  async shutdown(graceful: boolean): Promise<void> {
    if (this.exiting && graceful) return;
    const first = !this.exiting;
    this.exiting = true;
    const runtime = this.runtime;
    if (!runtime) process.exit(0);
    if (graceful) {
      this.errorLog.log('notice', 'gracefully shutting down');
      process.title = 'nodinx: worker process is shutting down';
      const timeout = this.cycle?.core.workerShutdownTimeout;
      if (timeout) setTimeout(() => void runtime.close(false), timeout).unref();
    }
    if (!first && !graceful) {
      // terminate after quit: what quit waits for ends now
      await runtime.close(false);
      return;
    }
    await runtime.close(graceful);
    this.errorLog.log('notice', 'exiting');
    this.slot?.flush();
    this.errorLog.log('notice', 'exit');
    this.errorLog.close();
    process.exit(0);
  }

  /** NGX_CMD_REOPEN: the master has made the files; this worker opens them by name. */
  reopen(): void {
    this.errorLog.log('notice', 'reopening logs');
    for (const failure of this.errorLog.reopen()) this.errorLog.log('emerg', failure);
    this.runtime?.reopenLogs();
  }

  /** A crash says why in the error log before the master restarts the worker. */
  crashed(e: unknown): void {
    this.errorLog.log('alert', `worker process crashed: ${(e as Error)?.stack ?? e}`);
    process.exit(1);
  }
}

if (require.main === module) {
  const worker = new Worker();
  process.title = 'nodinx: worker process';
  process.on('message', (msg: MasterMessage, handle?: InheritedSocket) => worker.onMessage(msg, handle));
  process.on('uncaughtException', (e) => worker.crashed(e));
  process.on('SIGQUIT', () => void worker.shutdown(true));
  process.on('SIGTERM', () => void worker.shutdown(false));
  process.on('SIGINT', () => void worker.shutdown(false));
  process.on('SIGUSR1', () => worker.reopen());
  // nginx's workers ignore these; Node would die of them
  for (const sig of ['SIGHUP', 'SIGUSR2', 'SIGWINCH'] as const) process.on(sig, () => undefined);
  // the master is gone (killed): nothing manages this worker any more, so it stops as gracefully as it can
  process.on('disconnect', () => void worker.shutdown(true));
}
