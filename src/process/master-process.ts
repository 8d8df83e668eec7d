import type { Cycle } from '../conf/load';
import { bindsOf } from '../http/runtime';
import type { ErrorLog } from './error-log';
import { accessLogPaths, errorLogFilesOf, prepareReopen } from './files';
import { bindWithRetries, ListenSockets } from './listen-sockets';
import { workerCredentials, type Credentials } from './users';
import { WorkerPool, WorkerStartError } from './workers';
import type { ConfigFiles, LoadOptionsWithLog } from './protocol';
import type { ProcessModel, Say } from './master';

// `master_process on`, nginx's default (ngx_master_process_cycle): this
// process binds the sockets and keeps them, and workers serve. A reload
// binds what is new, starts workers on the new configuration and, once
// they all listen, tells the old ones to finish what they have and go;
// a failure on the way leaves the old workers serving as they were.

export class MasterProcess implements ProcessModel {
  private readonly sockets = new ListenSockets();
  private readonly pool: WorkerPool;
  private cycle?: Cycle;
  private credentials?: Credentials;

  constructor(
    private readonly log: ErrorLog,
    private readonly say: Say,
    private readonly load: LoadOptionsWithLog,
    daemon: boolean,
  ) {
    this.pool = new WorkerPool(log, this.sockets, load, daemon);
  }

  async start(cycle: Cycle, files: ConfigFiles): Promise<boolean> {
    return this.switchTo(cycle, files, this.say);
  }

  reload(cycle: Cycle, files: ConfigFiles): Promise<boolean> {
    return this.switchTo(cycle, files, (level, message) => this.log.log(level, message));
  }

  private async switchTo(cycle: Cycle, files: ConfigFiles, say: Say): Promise<boolean> {
    const keep = new Set(this.cycle ? bindsOf(this.cycle).map((b) => b.key) : []);
    let credentials: Credentials | undefined;
    try {
      credentials = workerCredentials(cycle.core);
    } catch (e) {
      say('emerg', (e as Error).message);
      return false;
    }
    if (!(await bindWithRetries(() => this.sockets.bindMissing(cycle), say))) {
      this.sockets.closeExcept(keep);
      return false;
    }
    try {
      await this.pool.start({ cycle, files, credentials });
    } catch (e) {
      if (!(e instanceof WorkerStartError)) throw e;
      say(e.level, e.message);
      this.sockets.closeExcept(keep);
      return false;
    }
    // the old workers, told to quit, close theirs: a port the new configuration dropped closes
    this.sockets.closeExcept(new Set(bindsOf(cycle).map((b) => b.key)));
    this.cycle = cycle;
    this.credentials = credentials;
    return true;
  }

  reopen(): void {
    if (this.cycle) {
      // the error logs' failures the master has logged already
      const uid = this.credentials?.uid;
      prepareReopen(errorLogFilesOf(this.cycle, this.load.errorLogOption), uid);
      for (const failure of prepareReopen(accessLogPaths(this.cycle), uid)) this.log.log('emerg', failure);
    }
    this.pool.reopen();
  }

  async stop(graceful: boolean): Promise<void> {
    await this.pool.stop(graceful);
    this.sockets.closeAll();
    this.pool.close();
  }
}
