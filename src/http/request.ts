import type { HttpResponse } from './response';
import type { Socket } from 'node:net';
import type { HttpServerConf, LocationConf } from './core-module';
import type { AddrEntry } from './server-names';
import type { ClientQuirks } from './error-pages';
import type { HttpContext } from './http-context';
import type { Trace } from './trace';

/**
 * The request as modules see it, after ngx_http_request_t: what the client
 * sent, where configuration put it, and what is being answered.
 *
 * Strings that come from the wire ($uri, $args, header values, file names
 * built from the URI) are "byte strings": one char per byte (latin1), as
 * Node hands header bytes over; they turn into Buffers with 'latin1'.
 */
export interface HttpRequest {
  readonly req: RequestIn;
  readonly res: HttpResponse;
  /** the virtual server chosen by address and Host */
  server: HttpServerConf;
  /** the location chosen for the current URI */
  loc: LocationConf;
  method: string;
  /** decoded, normalised path ($uri) */
  uri: string;
  /** query string without "?" ($args); "" when none (see hasArgs) */
  args: string;
  /** the request line's target as sent ($request_uri) */
  requestUri: string;
  /** Host without port, lower-cased ($host before fallback) */
  host: string;
  /** user variables by slot (set, map, regex names) */
  vars: Array<string | undefined>;
  /** $0..$9 of the last regex that matched */
  captures?: string[];
  /** internal redirects left before "rewrite or internal redirection cycle" */
  uriChanges: number;
  internal: boolean;
  status: number;
  startMs: number;
  /** bytes of the body sent, for $body_bytes_sent */
  bodyBytesSent: number;
  /** the error_page redirect already happened (recursive_error_pages off) */
  errorPage: boolean;
  /** set by `nodinx explain`: modules push what they did (see trace.ts) */
  trace?: Trace;

  // --- below: added by the runtime ---
  /** the connection the request came on */
  conn: HttpConnection;
  /** "HTTP/1.1" */
  protocol: string;
  /** $server_protocol: undefined for HTTP/0.9 or before the version was read */
  serverProtocol?: string;
  /** the request line as sent, for $request and error-log lines */
  requestLine: string;
  /** the request target had a "?" ($is_args, $args "" vs not found) */
  hasArgs: boolean;
  /**
   * a module gave the arguments a value, maybe "" (rewrite, try_files, `set $args`):
   * an empty $args is then "", not "not found" (nginx's args.data is set)
   */
  argsFound?: boolean;
  /** status forced by error_page (nginx's err_status); 0 when none */
  errStatus: number;
  /** what is being answered: headers in nginx's order of sources */
  out: OutHeaders;
  /** the response head was written */
  headerSent: boolean;
  /** bytes of the response head, for $bytes_sent */
  headerBytes: number;
  /** whether the connection stays open after this request */
  keepalive: boolean;
  /** HEAD, 304, 204: no body */
  headerOnly: boolean;
  /** the client went away before the response was complete */
  clientGone: boolean;
  /** the request is finished (logged) */
  done: boolean;
  /** Content-Length of the request, -1 when absent */
  contentLength: number;
  /** request line, headers and body read so far ($request_length) */
  requestLength: number;
  quirks: ClientQuirks;
  /** lazily made $request_id */
  requestId?: string;
  /** read from what the previous request left in the buffer ($pipe) */
  pipeline?: boolean;
  /** the path a content handler mapped the URI to ($request_filename) */
  filename?: string;
  /**
   * how many entries of req.rawHeaders nginx would have read: all, unless
   * the request was refused while reading them (0: at the request line)
   */
  headerLimit: number;
  /** refused before a request line was read: $uri, $request_method... are not found */
  bare: boolean;
  /** close the connection after the response even if it says keep-alive */
  closeAfter: boolean;
  /** per-request values modules keep (nginx's ctx array) */
  ctx: Record<string, unknown>;
}

export interface OutHeaders {
  /** the reason phrase line after the code, as an upstream sent it ("200 Fine"); nginx's status_line */
  statusLine?: string;
  /** Server and Date an upstream sent and proxy_pass_header let through: nginx then writes none of its own */
  server?: string;
  date?: string;
  contentType?: string;
  /** -1: unknown */
  contentLength: number;
  /** mtime in seconds, -1 none */
  lastModified: number;
  location?: string;
  etag?: string;
  /** the body may be served in ranges (static files) */
  allowRanges?: boolean;
  acceptRanges?: boolean;
  /** further headers in the order they were added */
  headers: Array<[string, string]>;
}

/**
 * The request head as read, in node:http's IncomingMessage vocabulary (the
 * fields nodinx uses; the body is request-body.ts's business). A plain
 * object: an IncomingMessage is a stream, and making one cost a tenth of a
 * small static request.
 */
export interface RequestIn {
  method: string;
  /** the request target as sent */
  url: string;
  /** "1.1" */
  httpVersion: string;
  httpVersionMajor: number;
  httpVersionMinor: number;
  /** lower-cased names; repeats joined as Node joins them */
  headers: Record<string, string | undefined>;
  /** [name, value, ...] as sent */
  rawHeaders: string[];
  socket: Socket;
}

/** One client connection (ngx_connection_t), shared by its requests. */
export interface HttpConnection {
  /** $connection: a serial number */
  id: number;
  /** $connection_requests: requests so far on this connection, this one included */
  requests: number;
  socket: Socket;
  /** the listen address (and its servers) the connection came in on */
  addr: AddrEntry;
  /** how nginx names the client in logs: "127.0.0.1", "unix:" */
  remoteAddr: string;
  remotePort: string;
  localAddr: string;
  localPort: string;
  /** the text of the listening socket, for logs without a request: "0.0.0.0:80" */
  listenText: string;
  startMs: number;
  /** the request being answered, for close-time accounting */
  current?: HttpRequest;
  /** the cycle (config and logs) the connection's requests use */
  ctx: HttpContext;
  /** the cycle's prefix, for relative paths built at run time */
  prefix: string;
}

/** The handler started (or finished) the response itself. */
export const DONE = 0;

/** What a phase handler returns: undefined to go on, a status, or a redirect. */
export type Outcome = number | Redirect | undefined;

export type Redirect =
  /** internal redirect: the phases again from the server rewrite phase */
  | { kind: 'uri' }
  /** to a named location: from the rewrite phase, in that location */
  | { kind: 'named'; loc: LocationConf }
  /** the URI changed in the rewrite phase: search the location again */
  | { kind: 'find' };

export type PhaseHandler = (r: HttpRequest) => Outcome | Promise<Outcome>;

/**
 * Handlers in order until one answers. Most answer at once (no directive of
 * theirs in the location): only a handler that returned a promise makes the
 * rest wait for it, since every await costs a promise and a trip through
 * the microtask queue.
 */
export function runHandlers(list: PhaseHandler[], r: HttpRequest, from = 0): Outcome | Promise<Outcome> {
  for (let i = from; i < list.length; i++) {
    const rc = list[i](r);
    if (rc instanceof Promise) return rc.then((v) => (v !== undefined ? v : runHandlers(list, r, i + 1)));
    if (rc !== undefined) return rc;
  }
  return undefined;
}

export function newOutHeaders(): OutHeaders {
  return { contentLength: -1, lastModified: -1, headers: [] };
}
