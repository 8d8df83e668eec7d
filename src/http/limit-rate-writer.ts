import type { Socket } from 'node:net';

// The rate limit of ngx_http_write_filter, where nginx applies it: on the
// bytes that go to the connection (c->sent: the head, chunk framing and
// body alike). Every layer above (the response, charset, gzip, chunked
// framing) writes to the socket as it always does; while a request has a
// limit, its socket's write() goes through a Throttle that hands the kernel
// what nginx's formula allows and holds the rest, returning false so that
// writers pause (and stop reading the file or upstream) until it empties.

type Callback = (err?: Error | null) => void;
type Write = (chunk: string | Uint8Array, encoding?: BufferEncoding | Callback, cb?: Callback) => boolean;

interface Held {
  data: Buffer;
  cb?: Callback;
}

/** What the limit is counted from; the request keeps it (r->limit_rate, r->limit_rate_after, r->start_sec). */
export interface RateState {
  /** bytes per second; 0: no limit */
  rate: number;
  /** bytes sent at full speed first */
  after: number;
  /** the request's start, in seconds (nginx's r->start_sec) */
  startSec: number;
}

/** The prototype's writableLength (Node defines it on Duplex/Writable, not on the instance). */
function lengthGetter(socket: Socket): () => number {
  for (let p = Object.getPrototypeOf(socket); p; p = Object.getPrototypeOf(p)) {
    const d = Object.getOwnPropertyDescriptor(p, 'writableLength');
    if (d?.get) return d.get as () => number;
  }
  return () => 0;
}

export class Throttle {
  private readonly held: Held[] = [];
  private heldBytes = 0;
  /** c->sent: bytes handed to the socket for this request */
  private sent = 0;
  private timer?: NodeJS.Timeout;
  /** a writer was told to wait: it gets a 'drain' once the held bytes are out */
  private blocked = false;
  private waitingSocket = false;
  private readonly write: Write;

  /**
   * @param gone the client went away: how many bytes it never got, before
   * the connection's close handler logs the request; with `eof`, it ended
   * its side while bytes were held, and the caller closes the connection
   */
  constructor(private readonly socket: Socket, private readonly state: RateState, private readonly gone: (unsent: number, eof: boolean) => void) {
    this.write = socket.write as unknown as Write;
    const own = (chunk: string | Uint8Array, encoding?: BufferEncoding | Callback, cb?: Callback): boolean =>
      this.take(chunk, encoding, cb);
    (socket as unknown as { write: Write }).write = own;
    // the held bytes count as the socket's: a writer that looks at how much is
    // queued (the proxy keeps up to 1 MiB, as nginx's buffers) stops reading its upstream
    const queued = lengthGetter(socket);
    Object.defineProperty(socket, 'writableLength', { configurable: true, get: () => queued.call(socket) + this.heldBytes });
    socket.on('end', this.onEnd);
    socket.prependOnceListener('close', this.onClose);
  }


  /**
   * ngx_http_test_reading: while the response waits, nginx watches the
   * client, and its end of input ends the request.
   */
  private readonly onEnd = (): void => {
    if (this.held.length === 0) return;
    const n = this.heldBytes;
    this.drop();
    this.gone(n, true);
  };

  private readonly onClose = (): void => {
    if (this.held.length > 0) this.gone(this.heldBytes, false);
    this.drop();
  };

  /** The socket writes straight again (the response finished, or the connection closed). */
  release(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.socket.off('drain', this.onSocketDrain);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onClose);
    // delete the own property: the prototype's write shows through again
    delete (this.socket as unknown as { write?: Write }).write;
    delete (this.socket as unknown as { writableLength?: number }).writableLength;
    this.drop();
  }

  private drop(): void {
    this.held.length = 0;
    this.heldBytes = 0;
  }

  private original(data: Buffer, cb?: Callback): boolean {
    return this.write.call(this.socket, data, cb);
  }

  private take(chunk: string | Uint8Array, encoding?: BufferEncoding | Callback, cb?: Callback): boolean {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    const data = typeof chunk === 'string' ? Buffer.from(chunk, encoding ?? 'utf8') : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    if (this.held.length === 0 && data.length === 0) return this.original(data, cb);
    this.held.push({ data, cb });
    this.heldBytes += data.length;
    this.flush();
    if (this.held.length === 0) return !this.socket.writableNeedDrain;
    this.blocked = true;
    return false;
  }

  /** ngx_http_write_filter's limit and delay, once per round of writes. */
  private flush(): void {
    if (this.timer || this.waitingSocket || this.socket.destroyed) return;
    const { rate, after, startSec } = this.state;
    while (this.held.length > 0) {
      let limit = rate * (Math.floor(Date.now() / 1000) - startSec + 1) - (this.sent - after);
      if (limit <= 0) {
        this.delay(Math.floor((-limit * 1000) / rate + 1));
        return;
      }
      const sent = this.sent;
      let full = false;
      while (this.held.length > 0 && (limit > 0 || this.held[0].data.length === 0)) {
        const h = this.held[0];
        let ok: boolean;
        if (h.data.length <= limit) {
          this.held.shift();
          this.heldBytes -= h.data.length;
          ok = this.original(h.data, h.cb);
          this.sent += h.data.length;
          limit -= h.data.length;
        } else {
          ok = this.original(h.data.subarray(0, limit));
          h.data = h.data.subarray(limit);
          this.heldBytes -= limit;
          this.sent += limit;
          limit = 0;
        }
        // the kernel takes no more for now: what nginx's send_chain would have sent is out
        if (!ok) {
          full = true;
          break;
        }
      }
      const delay = Math.floor(((Math.max(this.sent - after, 0) - Math.max(sent - after, 0)) * 1000) / rate);
      if (delay > 0) {
        this.delay(delay);
        return;
      }
      if (full) {
        this.waitingSocket = true;
        this.socket.once('drain', this.onSocketDrain);
        return;
      }
    }
    if (this.blocked) {
      this.blocked = false;
      // the writers wait for the socket's 'drain' (the connection passes it on to the response);
      // not from inside their own write() call
      process.nextTick(() => this.socket.emit('drain'));
    }
  }

  private delay(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, ms);
  }

  private readonly onSocketDrain = (): void => {
    this.waitingSocket = false;
    this.flush();
  };
}
