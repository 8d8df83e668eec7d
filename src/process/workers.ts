import { fork, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Cycle } from '../conf/load';
import type { LogLevel } from '../conf/errors';
import type { ErrorLog } from './error-log';
import type { ListenSockets } from './listen-sockets';
import { bindsOf } from '../http/runtime';
import { errText } from '../http/access-log';
import { StatsFile } from './shared-stats';
import { workerEnvironment, type Credentials } from './users';
import { FATAL_EXIT, type CommandMessage, type ConfigFiles, type CycleMessage, type LoadOptionsWithLog, type WorkerMessage } from './protocol';

/**
 * A worker's V8 young generation: 64 MiB semi-spaces instead of Node's 16.
 * A request's objects live for its few milliseconds; with 50 busy
 * keep-alive connections the small default scavenged every ~40 ms and
 * promoted whatever was in flight, which then needed mark-compacts. Measured
 * on the proxy bench (1 worker, wrk -c50, 3 alternating rounds): req/s
 * +0..24%, p99 9-15 ms -> 7-10 ms, about 35 MB more resident memory. A
 * value given in execArgv or NODE_OPTIONS wins.
 */
const SEMI_SPACE = '--max-semi-space-size';
const WORKER_EXEC_ARGV = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes(SEMI_SPACE))
  ? process.execArgv
  : [...process.execArgv, `${SEMI_SPACE}=64`];

// The master's side of its workers (ngx_start_worker_processes,
// ngx_reap_children): forking them, handing each the configuration and the
// listening sockets, knowing when they listen, telling old ones to go, and
// restarting one that died, with nginx's lines in the error log.

const WORKER_MAIN = path.join(__dirname, 'worker.js');
/** how long a worker may take to load the configuration and listen */
const START_TIMEOUT = 60000;
/** nginx's master kills workers that outlive a terminate by this much */
const KILL_AFTER = 1000;

/** A configuration the workers run: loaded by the master, with the bytes it was loaded from. */
export interface Generation {
  cycle: Cycle;
  files: ConfigFiles;
  credentials?: Credentials;
}

interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  slot: number;
  gen: Generation;
  state: 'starting' | 'running' | 'retiring';
  /** someone waits for it to listen, and says why it did not */
  awaited: boolean;
  ready: Promise<void>;
  settle(error?: Error): void;
}

export class WorkerStartError extends Error {
  constructor(readonly level: LogLevel, message: string) {
    super(message);
  }
}

export class WorkerPool {
  private readonly workers = new Set<WorkerProcess>();
  private readonly slots = new Set<number>();
  private readonly exited = new Set<() => void>();
  private current?: Generation;
  private stopping = false;
  readonly stats = StatsFile.create();

  constructor(
    private readonly log: ErrorLog,
    private readonly sockets: ListenSockets,
    private readonly load: LoadOptionsWithLog,
    private readonly daemon: boolean,
  ) {}

  /**
   * worker_processes workers on a configuration; resolves once every one
   * listens, then tells the workers of the configuration before to quit.
   * Rejects with the first failure, the new workers told to quit.
   */
  async start(gen: Generation): Promise<void> {
    this.log.log('notice', 'start worker processes');
    const started = Array.from({ length: Math.max(1, gen.cycle.core.workerProcesses ?? 1) }, () => this.spawn(gen, true));
    try {
      await Promise.all(started.map((w) => w.ready));
    } catch (e) {
      for (const w of started) this.command(w, 'quit');
      throw e;
    }
    this.current = gen;
    for (const w of this.workers) {
      if (w.gen === gen || w.state === 'retiring') continue;
      w.state = 'retiring';
      this.command(w, 'quit');
    }
  }

  reopen(): void {
    for (const w of this.workers) this.command(w, 'reopen');
  }

  /** Quit (graceful) or terminate every worker; resolves when all have exited. */
  async stop(graceful: boolean): Promise<void> {
    this.stopping = true;
    for (const w of this.workers) this.command(w, graceful ? 'quit' : 'terminate');
    const kill = graceful ? undefined : setTimeout(() => {
      for (const w of this.workers) w.child.kill('SIGKILL');
    }, KILL_AFTER);
    while (this.workers.size > 0) await new Promise<void>((resolve) => this.exited.add(resolve));
    if (kill) clearTimeout(kill);
  }

  close(): void {
    this.stats.close();
  }

  private spawn(gen: Generation, awaited: boolean): WorkerProcess {
    const slot = this.takeSlot();
    const stderr = this.daemon ? 'ignore' : 'inherit';
    const child = fork(WORKER_MAIN, [], {
      execArgv: WORKER_EXEC_ARGV,
      env: workerEnvironment(gen.cycle.core),
      stdio: ['ignore', 'ignore', stderr, 'ipc', this.stats.fd],
    });
    let settle!: (error?: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      settle = (error) => (error ? reject(error) : resolve());
    });
    // a rejection nobody waits for (a respawned worker) is handled here
    ready.catch(() => undefined);
    const w: WorkerProcess = { child, pid: child.pid ?? 0, slot, gen, state: 'starting', awaited, ready, settle };
    this.workers.add(w);
    const timer = setTimeout(() => {
      w.settle(new WorkerStartError('alert', `worker process ${w.pid} did not start in ${START_TIMEOUT / 1000}s`));
      child.kill('SIGKILL');
    }, START_TIMEOUT);
    void ready.then(() => clearTimeout(timer), () => clearTimeout(timer));
    child.on('message', (m: WorkerMessage) => this.onMessage(w, m));
    child.on('exit', (code, signal) => this.onExit(w, code, signal));
    if (!child.pid) {
      // fork() failed: there will be no exit
      this.workers.delete(w);
      this.slots.delete(slot);
      child.once('error', (e) => w.settle(new WorkerStartError('alert', `fork() failed while spawning "worker process" (${errText(e)})`)));
      return w;
    }
    // a channel closed under a send: the exit event says the rest
    child.on('error', () => undefined);
    this.log.log('notice', `start worker process ${child.pid}`);
    const binds = bindsOf(gen.cycle).map((b) => b.key);
    const msg: CycleMessage = {
      type: 'cycle', load: this.load, files: gen.files, binds, slot, credentials: gen.credentials, daemon: this.daemon,
    };
    child.send(msg, () => undefined);
    for (const key of binds) child.send({ type: 'socket', key }, this.sockets.get(key) as never, {}, () => undefined);
    return w;
  }

  private onMessage(w: WorkerProcess, m: WorkerMessage): void {
    if (m.type === 'ready') {
      if (w.state === 'starting') w.state = 'running';
      w.settle();
    } else if (m.type === 'fatal') {
      if (!w.awaited) this.log.log(m.level, m.message);
      w.settle(new WorkerStartError(m.level, m.message));
    }
  }

  /** ngx_process_get_status and ngx_reap_children. */
  private onExit(w: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(w);
    this.stats.release(w.slot);
    this.slots.delete(w.slot);
    if (signal) this.log.log('alert', `worker process ${w.pid} exited on signal ${os.constants.signals[signal] ?? signal}`);
    else this.log.log('notice', `worker process ${w.pid} exited with code ${code}`);
    w.settle(new WorkerStartError('alert', `worker process ${w.pid} exited before it listened`));
    const respawn = w.state === 'running' && w.gen === this.current && !this.stopping;
    if (respawn && code === FATAL_EXIT) {
      this.log.log('alert', `worker process ${w.pid} exited with fatal code ${FATAL_EXIT} and cannot be respawned`);
    } else if (respawn) {
      this.spawn(w.gen, false);
    }
    for (const done of this.exited) done();
    this.exited.clear();
  }

  /** Over the channel, as nginx's master prefers; a signal when the channel is gone. */
  private command(w: WorkerProcess, type: CommandMessage['type']): void {
    if (w.child.connected) {
      w.child.send({ type }, () => undefined);
      return;
    }
    const signal = type === 'quit' ? 'SIGQUIT' : type === 'terminate' ? 'SIGTERM' : 'SIGUSR1';
    try {
      w.child.kill(signal);
    } catch {
      // already gone
    }
  }

  private takeSlot(): number {
    let i = 0;
    while (this.slots.has(i)) i++;
    this.slots.add(i);
    return i;
  }
}
