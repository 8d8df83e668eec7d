import type { Cycle } from '../conf/load';
import { HttpRuntime } from '../http/runtime';
import type { ErrorLog } from './error-log';
import { bindWithRetries } from './listen-sockets';
import { applyPriority, restrictEnvironment } from './users';
import type { ProcessModel, Say } from './master';

// `master_process off` (ngx_single_process_cycle): the process that was
// started binds and serves, and a reload switches its listeners to the new
// configuration in place.

export class SingleProcess implements ProcessModel {
  private readonly runtime: HttpRuntime;
  private cycle?: Cycle;

  constructor(
    private readonly log: ErrorLog,
    private readonly say: Say,
  ) {
    this.runtime = new HttpRuntime({ errorLog: log });
  }

  async start(cycle: Cycle): Promise<boolean> {
    const bound = await bindWithRetries(async () => {
      try {
        await this.runtime.listen(cycle);
        return undefined;
      } catch (e) {
        const message = (e as Error).message;
        return { messages: [message], retry: /Address already in use/.test(message) };
      }
    }, this.say);
    if (!bound) return false;
    this.cycle = cycle;
    this.becomeWorker(cycle);
    return true;
  }

  async reload(cycle: Cycle): Promise<boolean> {
    try {
      await this.runtime.reload(cycle);
    } catch (e) {
      this.log.log('emerg', (e as Error).message);
      return false;
    }
    this.cycle = cycle;
    this.becomeWorker(cycle);
    return true;
  }

  reopen(): void {
    this.runtime.reopenLogs();
  }

  async stop(graceful: boolean): Promise<void> {
    const timeout = this.cycle?.core.workerShutdownTimeout;
    const timer = graceful && timeout ? setTimeout(() => void this.runtime.close(false), timeout) : undefined;
    await this.runtime.close(graceful);
    if (timer) clearTimeout(timer);
  }

  /** What nginx's single process does as its own worker: environment and priority. */
  private becomeWorker(cycle: Cycle): void {
    restrictEnvironment(cycle.core);
    applyPriority(cycle.core, (m) => this.log.log('alert', m));
  }
}
