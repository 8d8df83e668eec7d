import * as fs from 'node:fs';
import * as net from 'node:net';
import * as util from 'node:util';
import type { Cycle } from '../conf/load';
import type { ListenConf } from '../http/listen';
import { bindsOf, staleSocket } from '../http/runtime';
import { errText } from '../http/access-log';

// The listening sockets as nginx's master holds them: bound by the master,
// listened on and accepted from by the workers, which get a copy of each.
// The master never accepts (its event loop does not watch them), and since
// it keeps its copies across reloads and worker deaths, a port stays open
// from start to stop: connections that come while no worker is ready wait
// in the kernel's queue instead of being refused.

/** A libuv TCP or pipe handle, as child_process sends it to a worker. */
export interface ServerHandle {
  close(): void;
  getsockname?(out: object): number;
}

// net's own way to bind without listening (node:cluster's primary uses it)
const createServerHandle = (net as unknown as {
  _createServerHandle(address: string, port: number, addressType: number, fd?: number, flags?: number): ServerHandle | number;
})._createServerHandle;
// libuv's UV_TCP_IPV6ONLY
const IPV6ONLY = 1;

const BIND_TRIES = 5;
const BIND_DELAY = 500;

/** One try's failures: nginx's messages, and whether another try may help. */
export interface BindFailure {
  messages: string[];
  retry: boolean;
}

function uvError(code: number): NodeJS.ErrnoException {
  return Object.assign(new Error(util.getSystemErrorName(code)), { code: util.getSystemErrorName(code), errno: -code });
}

/** bind() a socket for ls; a libuv error code on failure. */
function bindOne(ls: ListenConf): ServerHandle | number {
  if (ls.family === 'unix') {
    const h = createServerHandle(ls.path!, -1, -1);
    try {
      // nginx makes the socket file everyone's to connect to
      if (typeof h !== 'number') fs.chmodSync(ls.path!, 0o666);
    } catch {
      // a socket its owner can still use
    }
    return h;
  }
  const h = createServerHandle(ls.addr, ls.port, ls.family, undefined, ls.family === 6 && ls.ipv6only ? IPV6ONLY : 0);
  if (typeof h === 'number') return h;
  // libuv reports EADDRINUSE of a TCP bind() only later; getsockname() tells it now
  const err = h.getsockname!({});
  if (err < 0) {
    h.close();
    return err;
  }
  return h;
}

export class ListenSockets {
  private readonly open = new Map<string, ServerHandle>();

  get(key: string): ServerHandle | undefined {
    return this.open.get(key);
  }

  /** ngx_open_listening_sockets, one try: binds what the cycle has and is not bound yet. */
  async bindMissing(cycle: Cycle): Promise<BindFailure | undefined> {
    const messages: string[] = [];
    for (const b of bindsOf(cycle)) {
      if (this.open.has(b.key)) continue;
      let h = bindOne(b.listen);
      const inUse = typeof h === 'number' && util.getSystemErrorName(h) === 'EADDRINUSE';
      if (inUse && b.listen.family === 'unix' && (await staleSocket(b.listen.path!))) {
        // a socket file no process listens on: left by a crash, safe to replace
        try {
          fs.unlinkSync(b.listen.path!);
        } catch {
          // the bind below says what is wrong
        }
        h = bindOne(b.listen);
      }
      if (typeof h !== 'number') {
        this.open.set(b.key, h);
        continue;
      }
      messages.push(`bind() to ${b.listen.text} failed (${errText(uvError(h))})`);
      // nginx tries again only when the address is in use
      if (util.getSystemErrorName(h) !== 'EADDRINUSE') return { messages, retry: false };
    }
    return messages.length > 0 ? { messages, retry: true } : undefined;
  }

  /** Closes the sockets not in keys (a reload that dropped a `listen`). */
  closeExcept(keys: Set<string>): void {
    for (const [key, h] of this.open) {
      if (keys.has(key)) continue;
      h.close();
      this.open.delete(key);
    }
  }

  closeAll(): void {
    this.closeExcept(new Set());
  }
}

/**
 * nginx's five bind() tries half a second apart: each failure is said (on
 * the terminal at start, in the error log always), then "still could not
 * bind()". Resolves true once everything is bound.
 */
export async function bindWithRetries(
  tryOnce: () => Promise<BindFailure | undefined>,
  say: (level: 'emerg' | 'notice', message: string) => void,
): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    const failure = await tryOnce();
    if (!failure) return true;
    for (const m of failure.messages) say('emerg', m);
    if (!failure.retry) return false;
    if (attempt >= BIND_TRIES) {
      say('emerg', 'still could not bind()');
      return false;
    }
    say('notice', `try again to bind() after ${BIND_DELAY}ms`);
    await new Promise((resolve) => setTimeout(resolve, BIND_DELAY));
  }
}
