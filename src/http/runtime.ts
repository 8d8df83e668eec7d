import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Cycle } from '../conf/load';
import type { ErrorLog } from '../process/error-log';
import type { AccessLog, LogLocConf } from './log-module';
import { LOG } from './log-module';
import type { LocationConf } from './core-module';
import type { ListenConf } from './listen';
import type { PortEntry } from './server-names';
import { HttpContext } from './http-context';
import { Listener, type ListenerOwner } from './server';
import { errText } from './access-log';
import { setStatusSource, type StubCounters } from './stub-status-module';
import { withWaiting, zeroCounters, type Counters } from '../process/shared-stats';

// The HTTP side of a running nodinx: the listening sockets of a cycle, the
// switch to a new cycle on reload (sockets kept, added, closed), log
// reopening, shutdown, and the connection counters stub_status reports.
// It runs in a worker process (on sockets the master bound) or, with
// `master_process off`, in the one process there is.

export interface RuntimeOptions {
  errorLog: ErrorLog;
  /** where stub_status reads the whole server's counters (all workers'); else this runtime's */
  status?: () => StubCounters;
  /** told when a counter changed, for a worker to publish them */
  countersChanged?: () => void;
}

/** A socket bound elsewhere (by the master), to listen and accept on. */
export type InheritedSocket = object;

export interface BoundAddress {
  /** nginx's name for it: "0.0.0.0:8080", "[::]:80", "unix:/path" */
  text: string;
  address?: net.AddressInfo | string;
}

interface Bind {
  key: string;
  listen: ListenConf;
  port: PortEntry;
}

/**
 * Which sockets to bind (ngx_http_init_listening): on a port that has a
 * wildcard listen, only the wildcard and the addresses with `bind`; the
 * wildcard socket serves the other addresses, told apart by local address.
 */
export function bindsOf(cycle: Cycle): Bind[] {
  const out: Bind[] = [];
  const ports = cycle.http?.addresses?.ports;
  if (!ports) return out;
  for (const port of ports.values()) {
    const wildcard = port.addrs.find((a) => a.listen.wildcard);
    if (!wildcard) {
      for (const a of port.addrs) out.push({ key: a.listen.text, listen: a.listen, port: { addrs: [a] } });
      continue;
    }
    const shared = port.addrs.filter((a) => a === wildcard || !a.listen.bind);
    for (const a of port.addrs) {
      if (a !== wildcard && a.listen.bind) out.push({ key: a.listen.text, listen: a.listen, port: { addrs: [a] } });
    }
    out.push({ key: wildcard.listen.text, listen: wildcard.listen, port: { addrs: shared } });
  }
  return out;
}

function* allLocations(loc: LocationConf): Generator<LocationConf> {
  yield loc;
  for (const l of loc.locations) yield* allLocations(l);
}

/** Every access log a cycle's locations write, to open them at start as nginx does. */
function accessLogsOf(cycle: Cycle): Set<AccessLog> {
  const logs = new Set<AccessLog>();
  for (const s of cycle.http?.servers ?? []) {
    const locs = [s.core.loc!, ...s.core.named.values()];
    for (const top of locs) {
      for (const l of allLocations(top)) for (const log of (l.confs[LOG] as LogLocConf | undefined)?.logs ?? []) logs.add(log);
    }
  }
  return logs;
}

export class HttpRuntime implements ListenerOwner {
  private readonly errorLog: ErrorLog;
  private readonly listeners = new Map<string, Listener>();
  private ctx?: HttpContext;
  private readonly inFlight = new Map<HttpContext, number>();
  private readonly retired = new Set<HttpContext>();
  private readonly closingListeners = new Set<Listener>();
  /** nginx's ngx_stat_* counters for this process */
  readonly stats: Counters = zeroCounters();
  private readonly status: () => StubCounters;
  private readonly countersChanged: () => void;
  private connectionSeq = 0;
  private workerConnections = 512;
  private lastAlert = 0;
  closing = false;

  constructor(opts: RuntimeOptions) {
    this.errorLog = opts.errorLog;
    this.status = opts.status ?? (() => withWaiting(this.stats));
    this.countersChanged = opts.countersChanged ?? (() => undefined);
  }

  /**
   * Binds every listen address of the cycle, or listens on the sockets
   * given by bind key; rejects with nginx's bind() message.
   */
  async listen(cycle: Cycle, inherited?: Map<string, InheritedSocket>): Promise<void> {
    if (this.ctx) return this.reload(cycle);
    const ctx = this.newContext(cycle);
    const created: Listener[] = [];
    try {
      for (const b of bindsOf(cycle)) {
        const l = new Listener(b.key, b.listen, b.port, ctx, this);
        if (inherited) await this.adopt(l, inherited.get(b.key));
        else await this.bindListener(l);
        created.push(l);
      }
    } catch (e) {
      await Promise.all(created.map((l) => l.close(false)));
      ctx.close();
      throw e;
    }
    for (const l of created) this.listeners.set(l.key, l);
    this.ctx = ctx;
  }

  /** New requests use the new cycle; added addresses are bound, removed ones closed. */
  async reload(cycle: Cycle): Promise<void> {
    if (!this.ctx) return this.listen(cycle);
    const ctx = this.newContext(cycle);
    const binds = bindsOf(cycle);
    const added: Listener[] = [];
    try {
      for (const b of binds) {
        if (this.listeners.has(b.key)) continue;
        const l = new Listener(b.key, b.listen, b.port, ctx, this);
        await this.bindListener(l);
        added.push(l);
      }
    } catch (e) {
      await Promise.all(added.map((l) => l.close(false)));
      ctx.close();
      throw e;
    }
    const keep = new Set(binds.map((b) => b.key));
    for (const b of binds) {
      const l = this.listeners.get(b.key);
      if (l) {
        l.listen = b.listen;
        l.port = b.port;
        l.ctx = ctx;
      }
    }
    const removed = [...this.listeners.values()].filter((l) => !keep.has(l.key));
    for (const l of removed) this.listeners.delete(l.key);
    for (const l of added) this.listeners.set(l.key, l);
    const old = this.ctx;
    this.ctx = ctx;
    this.retire(old);
    await Promise.all(removed.map((l) => l.close(true)));
  }

  reopenLogs(): void {
    this.ctx?.reopen();
    for (const c of this.retired) c.reopen();
  }

  /**
   * Graceful: stop accepting, let requests finish, close connections as
   * Listener.close says; else close all now. A fast close during a graceful
   * one (worker_shutdown_timeout, TERM after QUIT) ends what that waits for.
   */
  async close(graceful: boolean): Promise<void> {
    this.closing = true;
    for (const l of this.listeners.values()) this.closingListeners.add(l);
    this.listeners.clear();
    await Promise.all([...this.closingListeners].map((l) => l.close(graceful)));
    this.ctx?.close();
    for (const c of this.retired) c.close();
    this.retired.clear();
    this.ctx = undefined;
  }

  /** The addresses bound, with what the OS assigned (port 0). */
  addresses(): BoundAddress[] {
    return [...this.listeners.values()].map((l) => ({ text: l.key, address: l.server.address() ?? undefined }));
  }

  // --- ListenerOwner ---

  admit(socket: net.Socket): boolean {
    void socket;
    const limit = this.workerConnections - this.listeners.size;
    this.stats.accepted++;
    this.countersChanged();
    if (this.stats.active >= limit) {
      const now = Date.now();
      if (now - this.lastAlert >= 1000) {
        this.lastAlert = now;
        this.errorLog.log('alert', `${this.workerConnections} worker_connections are not enough`);
      }
      return false;
    }
    this.stats.handled++;
    this.stats.active++;
    return true;
  }

  released(): void {
    this.stats.active--;
    this.countersChanged();
  }

  nextConnectionId(): number {
    return ++this.connectionSeq;
  }

  requestStarted(ctx: HttpContext): void {
    this.inFlight.set(ctx, (this.inFlight.get(ctx) ?? 0) + 1);
    // ngx_http_create_request: reading until ngx_http_process_request
    this.stats.requests++;
    this.stats.reading++;
    this.countersChanged();
  }

  requestProcessing(): void {
    this.stats.reading--;
    this.stats.writing++;
    this.countersChanged();
  }

  /** ngx_http_free_request: off whichever of reading and writing counts it. */
  requestDone(ctx: HttpContext, writing: boolean): void {
    if (writing) this.stats.writing--;
    else this.stats.reading--;
    this.countersChanged();
    const n = (this.inFlight.get(ctx) ?? 1) - 1;
    if (n > 0) {
      this.inFlight.set(ctx, n);
      return;
    }
    this.inFlight.delete(ctx);
    if (this.retired.has(ctx)) {
      this.retired.delete(ctx);
      ctx.close();
    }
  }

  // --- internals ---

  private newContext(cycle: Cycle): HttpContext {
    if (!cycle.http) throw new Error('no "http" section in configuration');
    this.workerConnections = cycle.events.workerConnections ?? 512;
    const ctx = new HttpContext(cycle, this.errorLog);
    ctx.accessLogs.openStatic(accessLogsOf(cycle));
    setStatusSource(ctx, this.status);
    return ctx;
  }

  /** Listens on a socket the master bound (ngx_configure_listening_sockets in a worker). */
  private async adopt(l: Listener, socket: InheritedSocket | undefined): Promise<void> {
    const ls = l.listen;
    if (!socket) throw new Error(`no socket for ${ls.text} from the master process`);
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => reject(new Error(`listen() to ${ls.text}, backlog ${ls.backlog ?? 511} failed (${errText(e)})`, { cause: e }));
      l.server.once('error', onError);
      l.server.listen(socket, ls.backlog && ls.backlog > 0 ? ls.backlog : 511, () => {
        l.server.off('error', onError);
        resolve();
      });
    });
    l.server.on('error', (e) => this.errorLog.log('alert', `listener ${ls.text} failed: ${e.message}`));
  }

  private retire(ctx: HttpContext): void {
    if ((this.inFlight.get(ctx) ?? 0) === 0) ctx.close();
    else this.retired.add(ctx);
  }

  private async bindListener(l: Listener): Promise<void> {
    try {
      await l.bind();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const ls = l.listen;
      if (ls.family === 'unix' && err.code === 'EADDRINUSE' && (await staleSocket(ls.path!))) {
        // a socket file no process listens on: left by a crash, safe to replace
        try {
          fs.unlinkSync(ls.path!);
          await l.bind();
          return;
        } catch (e2) {
          throw new Error(`bind() to ${ls.text} failed (${errText(e2)})`, { cause: e2 });
        }
      }
      throw new Error(`bind() to ${ls.text} failed (${errText(err)})`, { cause: err });
    }
  }
}

/** A unix socket file that refuses connections has no listener behind it. */
export function staleSocket(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    let st: fs.Stats;
    try {
      st = fs.statSync(path);
    } catch {
      resolve(false);
      return;
    }
    if (!st.isSocket()) {
      resolve(false);
      return;
    }
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(false);
    });
    c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}
