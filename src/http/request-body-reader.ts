import { Readable } from 'node:stream';
import type { HttpRequest } from './request';
import { logError } from './http-context';
import { requestLocConf } from './core-request-module';
import {
  ChunkedState, RequestBodyError, keepRequestBody, type ChunkSink, type ReadBodyOptions, type RequestBody,
} from './request-body';

// ngx_http_read_client_request_body and its filters, for one request: the
// bytes the connection read (those that came with the head first) are
// decoded — by Content-Length or by ngx_http_parse_chunked — and kept
// (buffered) or pushed to a Readable (unbuffered, request_body_no_buffering)
// whose backpressure pauses the client socket. client_body_timeout runs
// while the reader waits for the client, not while it waits for its
// consumer (nginx does not read then either). Failures end as nginx's do:
// 413 and 400 (broken chunked body) are answered and the connection then
// closed; a timeout (408) or a client that went away (400) terminates the
// request with no answer.

/** What the reader needs from its connection. */
export interface BodyIo {
  /** the bytes read and not consumed yet */
  buf(): Buffer;
  /** where nginx's header buffer ends in buf(): what it read with the head is the preread */
  headerEnd(): number;
  consume(n: number): void;
  pause(): void;
  resume(): void;
  arm(ms: number, fn: () => void): void;
  disarm(): void;
  /** the body was read to its end: what follows is the next request */
  complete(): void;
  /** the body will not be read to its end: close after the response, or at once (terminate) */
  failed(terminate: boolean): void;
}

export class BodyReader implements ChunkSink {
  readonly promise: Promise<RequestBody | number>;
  finished = false;
  private settle!: (v: RequestBody | number) => void;
  private settled = false;
  private received = 0;
  private readonly bufs: Buffer[] = [];
  private readonly stream?: Readable;
  /** the consumer is behind: the socket is paused until it reads */
  private full = false;
  private eofSeen = false;
  /** the chunk size refused by client_max_body_size */
  private tooLarge = 0;
  /** the bytes being decoded came with the head (nginx's preread) */
  private preread = false;
  /** $request_length when this feed began */
  private lengthBefore = 0;
  /** the body bytes nginx would have read with the head, and the room left in its header buffer */
  private prereadBytes = 0;
  private headerFree = 0;
  /** the body's bytes as sent (chunked framing included) */
  private raw = 0;
  /** the data decoded from the preread: nginx's first request body buffer */
  private readonly prereadBufs: Buffer[] = [];
  /** bytes there were to decode when this feed began */
  private feedBytes = 0;

  constructor(
    private readonly r: HttpRequest,
    private readonly io: BodyIo,
    private remaining: number,
    private readonly chunked: ChunkedState | undefined,
    private readonly opts: ReadBodyOptions,
  ) {
    this.promise = new Promise((resolve) => (this.settle = resolve));
    if (!opts.buffered) {
      this.stream = new Readable({
        read: () => this.consumerRead(),
        destroy: (err, cb) => {
          this.consumerGone();
          cb(err);
        },
      });
    }
  }

  /** The bytes read with the head first; an unbuffered body is handed out unless they were already wrong. */
  start(): void {
    const end = this.io.headerEnd();
    const have = this.io.buf().length;
    this.prereadBytes = Math.min(have, end);
    this.headerFree = Math.max(0, end - have);
    this.preread = true;
    this.feed();
    this.preread = false;
    if (!this.finished && this.stream) this.resolve({ length: this.chunked ? -1 : this.r.contentLength, stream: this.stream });
  }

  /** More bytes came (or the consumer wants more): decode what there is. */
  feed(): void {
    if (this.finished || this.full) return;
    const b = this.io.buf();
    let used = 0;
    this.lengthBefore = this.r.requestLength;
    this.feedBytes = b.length;
    if (this.chunked) {
      const [p, rc] = this.chunked.parse(b, 0, b.length, this);
      used = p;
      this.take(used);
      if (rc === 'invalid') return this.fail(400, 'client sent invalid chunked body');
      if (rc === 'stop') return this.fail(413, `client intended to send too large chunked body: ${this.received}+${this.tooLarge} bytes`);
      if (rc === 'done') return this.complete();
    } else {
      used = Math.min(this.remaining, b.length);
      if (used > 0) this.data(b, 0, used);
      this.take(used);
      this.remaining -= used;
      if (this.remaining === 0) return this.complete();
    }
    if (this.full) {
      this.io.disarm();
      this.io.pause();
      return;
    }
    if (this.eofSeen) return this.closed('eof');
    this.io.arm(requestLocConf(this.r.loc).clientBodyTimeout, () => this.timedOut());
    this.io.resume();
  }

  // --- ChunkSink: ngx_http_request_body_chunked_filter ---

  size(n: number): boolean {
    const max = this.r.loc.clientMaxBodySize ?? 1024 * 1024;
    if (max > 0 && max - this.received < n) {
      this.tooLarge = n;
      return false;
    }
    return true;
  }

  data(b: Buffer, start: number, end: number): void {
    if (end <= start) return;
    const chunk = b.subarray(start, end);
    this.received += chunk.length;
    if (this.preread) this.prereadBufs.push(chunk);
    if (!this.stream) this.bufs.push(chunk);
    else if (!this.stream.push(chunk)) this.full = true;
  }

  // --- what the connection tells ---

  /** The client half-closed: what was read still counts, then the body is short. */
  eof(): void {
    this.eofSeen = true;
    if (!this.full) this.feed();
  }

  /** The connection is gone: the end of input, a reset, or closed under the request. */
  closed(how?: 'eof' | 'reset'): void {
    if (this.finished) return;
    if (how === 'eof') logError(this.r, 'info', 'client prematurely closed connection', this.action());
    // ngx_unix_recv: ngx_connection_error's level for ECONNRESET is info
    if (how === 'reset') logError(this.r, 'info', 'recv() failed (104: Connection reset by peer)', this.action());
    this.terminate(400);
  }

  /** The response is over before the body: nobody will read the rest. */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    this.io.disarm();
    this.stream?.destroy();
  }

  // --- internals ---

  /** The caller's "while ..." only once it has the stream: the preread fails before it starts. */
  private action(): string | undefined {
    return this.settled ? this.opts.action : undefined;
  }

  private take(n: number): void {
    if (n === 0) return;
    this.io.consume(n);
    this.raw += n;
    // $request_length: the body's bytes as they came, framing included
    this.r.requestLength += n;
  }

  private resolve(v: RequestBody | number): void {
    if (this.settled) return;
    this.settled = true;
    this.settle(v);
  }

  private complete(): void {
    this.finished = true;
    this.io.disarm();
    this.io.complete();
    if (this.stream) {
      // a body that came whole with the head stays in nginx's buffers even unbuffered
      if (this.preread) keepRequestBody(this.r, this.prereadBufs);
      this.stream.push(null);
      this.resolve({ length: this.received, stream: this.stream });
      return;
    }
    keepRequestBody(this.r, this.inMemory() ? this.bufs : undefined);
    this.resolve({ length: this.received, buffered: this.bufs });
  }

  /**
   * Whether nginx would have kept the body in memory rather than in a
   * temporary file ($request_body is only such a body): the preread with
   * the rest fitting in the header buffer, a Content-Length body under
   * 1.25 * client_body_buffer_size, a chunked one whose bytes fit the buffer
   * (ngx_http_read_client_request_body's choice of buffers; checked with nginx).
   */
  private inMemory(): boolean {
    const size = requestLocConf(this.r.loc).clientBodyBufferSize;
    if (this.chunked) return this.raw - Math.min(this.prereadBytes, this.raw) <= size;
    const len = this.r.contentLength;
    const preread = Math.min(this.prereadBytes, len);
    const rest = len - preread;
    return rest === 0 || (preread > 0 && rest <= this.headerFree) || rest < size + (size >> 2);
  }

  /** 413 or 400: answered, and the connection closed after the answer. */
  private fail(status: number, message: string): void {
    logError(this.r, 'error', message, this.action());
    // nginx counts a failed preread not at all, and a failed read as what it
    // read into the body buffer (up to client_body_buffer_size at a time)
    if (this.preread) this.r.requestLength = this.lengthBefore;
    else {
      const read = Math.min(this.feedBytes, requestLocConf(this.r.loc).clientBodyBufferSize);
      this.r.requestLength = this.lengthBefore + Math.max(this.r.requestLength - this.lengthBefore, read);
    }
    this.finished = true;
    this.io.disarm();
    this.io.failed(false);
    this.error(status, message);
  }

  /** ngx_http_terminate_request: no answer, the status only in the access log. */
  private terminate(status: number): void {
    this.finished = true;
    const r = this.r;
    if (!r.headerSent) r.status = r.errStatus = status;
    r.keepalive = false;
    r.clientGone = true;
    this.io.disarm();
    this.io.failed(true);
    this.error(status, `request body: ${status}`);
  }

  private error(status: number, message: string): void {
    // what nginx's request body filters took before the failure: the preread data, when in memory
    if (!this.preread && !this.stream && this.prereadBufs.length > 0) keepRequestBody(this.r, this.prereadBufs);
    if (!this.settled) this.resolve(status);
    else this.stream?.destroy(new RequestBodyError(status, message));
  }

  private timedOut(): void {
    if (!this.finished) this.terminate(408);
  }

  private consumerRead(): void {
    if (!this.full) return;
    this.full = false;
    this.feed();
  }

  /** The consumer destroyed the stream: stop reading; the connection closes after the response. */
  private consumerGone(): void {
    if (this.finished) return;
    this.finished = true;
    this.io.disarm();
    this.io.pause();
  }
}
