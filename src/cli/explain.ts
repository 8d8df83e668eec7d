import * as net from 'node:net';
import * as path from 'node:path';
import type { LogLevel } from '../conf/errors';
import { ConfError } from '../conf/errors';
import { fromBytes, toBytes } from '../conf/bytes';
import { loadConfig, type Cycle } from '../conf/load';
import { formatLine } from '../http/access-log';
import { HttpContext } from '../http/http-context';
import type { AccessLog } from '../http/log-module';
import type { HttpRequest } from '../http/request';
import { bindsOf } from '../http/runtime';
import { Listener, type ListenerOwner } from '../http/server';
import { TRACE, type Trace, type TraceEvent } from '../http/trace';
import { ErrorLog, messageText, type ErrorContext } from '../process/error-log';

// `nodinx explain`: the path a request takes through a configuration and
// why. The request really runs — Node's parser, server and location
// selection, rewrites, content — on an in-memory connection whose local
// address is the one asked about; modules report their steps into a trace.
// Logs are captured, not written.

export interface ExplainOptions {
  prefix: string;
  confFile: string;
  globals?: string;
  /** the address the connection arrived on: "IP:PORT" or "unix:/path" */
  addr?: string;
  headers: string[];
  /** "GET http://host/uri?args" or "http://host/uri" or "/uri" */
  request: string;
  /**
   * A configuration already loaded and serving in this process: explain
   * then reads its upstream groups as they are now (the next round robin
   * pick, failures counted), without changing them.
   */
  cycle?: Cycle;
}

export interface Explanation {
  request: { method: string; target: string; host?: string; addr: string };
  steps: TraceEvent[];
  response: { status: number; reason: string; headers: Array<[string, string]>; bodyBytes: number };
  accessLog: Array<{ path: string; line: string }>;
  errorLog: Array<{ level: LogLevel; message: string }>;
  /** proxy_pass was reached: the response and its access-log line would be the upstream's, so none is given */
  proxied?: boolean;
}

class CapturingLog extends ErrorLog {
  constructor(readonly lines: Explanation['errorLog']) {
    super();
  }
  override log(level: LogLevel, message: string, ctx?: ErrorContext): void {
    this.lines.push({ level, message: messageText(message, ctx) });
  }
}

/** A cycle's context whose logs go into the explanation. */
class ExplainContext extends HttpContext {
  constructor(cycle: Cycle, readonly capture: Explanation) {
    super(cycle, new CapturingLog(capture.errorLog));
    (this as { accessLogs: unknown }).accessLogs = {
      log: (r: HttpRequest, logs: AccessLog[] | undefined) => {
        for (const log of logs ?? []) {
          if (log.condition && ['', '0'].includes(log.condition.run(r))) continue;
          const file = log.path.isStatic ? log.path.source : log.path.run(r);
          capture.accessLog.push({ path: file, line: formatLine(log.format, r) });
        }
      },
      reopen: () => undefined,
      close: () => undefined,
    };
  }
  override errorLogFor(): ErrorLog {
    return this.errorLog;
  }
}

const owner: ListenerOwner = {
  admit: () => true,
  released: () => undefined,
  nextConnectionId: () => 1,
  closing: false,
  requestStarted: () => undefined,
  requestDone: () => undefined,
};

function parseRequest(text: string): { method: string; target: string; host?: string; port?: number } {
  const m = /^(?:([A-Z_-]+)\s+)?(\S+)$/.exec(text.trim());
  if (!m) throw new ConfError(`cannot read the request "${text}": expected "METHOD URL"`);
  const method = m[1] ?? 'GET';
  const url = m[2];
  if (url.startsWith('/')) return { method, target: url };
  const u = /^https?:\/\/([^/?#]*)(.*)$/i.exec(url);
  if (!u) throw new ConfError(`cannot read the URL "${url}"`);
  const hostPort = u[1];
  const pm = /^(.*?)(?::(\d+))?$/.exec(hostPort)!;
  return { method, target: u[2] || '/', host: hostPort, port: pm[2] ? Number(pm[2]) : undefined };
}

/** The socket the connection arrives on, and the local address to claim. */
function chooseBind(cycle: Cycle, addr: string | undefined, port: number | undefined) {
  const binds = bindsOf(cycle);
  if (binds.length === 0) throw new ConfError('the configuration has no http server');
  if (addr?.startsWith('unix:')) {
    const b = binds.find((x) => x.listen.text === addr);
    if (!b) throw new ConfError(`nothing listens on ${addr}`);
    return { bind: b, local: 'unix:', localPort: 0 };
  }
  let ip: string | undefined;
  if (addr !== undefined) {
    const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(addr);
    if (!m) throw new ConfError(`invalid --addr "${addr}", expected IP:PORT`);
    ip = m[1];
    port = Number(m[2]);
  }
  const ports = [...new Set(binds.filter((b) => b.listen.family !== 'unix').map((b) => b.listen.port))];
  port ??= ports.length === 1 ? ports[0] : 80;
  const onPort = binds.filter((b) => b.listen.port === port && b.listen.family !== 'unix');
  // an address asked for: its own socket, else the port's wildcard; none: the wildcard, else the first
  const b = ip !== undefined
    ? onPort.find((x) => !x.listen.wildcard && x.listen.addr === ip) ?? onPort.find((x) => x.listen.wildcard)
    : onPort.find((x) => x.listen.wildcard) ?? onPort[0];
  if (!b) throw new ConfError(`nothing listens on ${ip ?? '*'}:${port}`);
  return { bind: b, local: ip ?? (b.listen.wildcard ? (b.listen.family === 6 ? '::1' : '127.0.0.1') : b.listen.addr), localPort: port };
}

/** Runs the request through the configuration and reports each step. */
export async function explain(opts: ExplainOptions): Promise<Explanation> {
  const cycle = opts.cycle ?? loadConfig({ prefix: opts.prefix, confFile: opts.confFile, globals: opts.globals });
  const req = parseRequest(opts.request);
  const { bind, local, localPort } = chooseBind(cycle, opts.addr, req.port);
  const capture: Explanation = {
    request: { method: req.method, target: req.target, host: req.host, addr: local === 'unix:' ? bind.listen.text : `${local}:${localPort}` },
    steps: [],
    response: { status: 0, reason: '', headers: [], bodyBytes: 0 },
    accessLog: [],
    errorLog: [],
  };
  const ctx = new ExplainContext(cycle, capture);
  const listener = new Listener(bind.key, bind.listen, bind.port, ctx, owner);
  const raw = await roundTrip(listener, local, localPort, capture.steps, requestBytes(req, opts.headers));
  parseResponse(raw, capture);
  ctx.close();
  if (capture.steps.some((s) => s.kind === 'proxy_pass')) {
    capture.proxied = true;
    capture.response = { status: 0, reason: 'not known: it would come from the upstream, which explain does not connect to', headers: [], bodyBytes: 0 };
    capture.accessLog = [];
  }
  return capture;
}

function requestBytes(req: ReturnType<typeof parseRequest>, headers: string[]): Buffer {
  const lines = [`${req.method} ${req.target} HTTP/1.1`];
  const named = new Set(headers.map((h) => h.split(':')[0].trim().toLowerCase()));
  if (req.host !== undefined && !named.has('host')) lines.push(`Host: ${req.host}`);
  lines.push(...headers);
  if (!named.has('connection')) lines.push('Connection: close');
  return Buffer.from(toBytes(lines.join('\r\n') + '\r\n\r\n'), 'latin1');
}

/** A loopback socket pair; the server end claims the explained address. */
function roundTrip(listener: Listener, local: string, localPort: number, trace: Trace, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const pair = net.createServer((serverSide) => {
      pair.close();
      Object.defineProperty(serverSide, 'localAddress', { value: local === 'unix:' ? undefined : local });
      Object.defineProperty(serverSide, 'localPort', { value: localPort });
      (serverSide as net.Socket & { [TRACE]?: Trace })[TRACE] = trace;
      listener.server.emit('connection', serverSide);
    });
    pair.listen(0, '127.0.0.1', () => {
      const { port } = pair.address() as net.AddressInfo;
      const client = net.connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => client.destroy(new Error('no complete answer within 10 s')), 10000);
      client.on('data', (d) => chunks.push(d));
      client.on('error', (e) => (clearTimeout(timer), reject(e)));
      client.on('close', () => (clearTimeout(timer), resolve(Buffer.concat(chunks))));
      // not end(): the request says Connection: close, the server closes after answering
      client.write(bytes);
    });
  });
}

function parseResponse(raw: Buffer, into: Explanation): void {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = (end < 0 ? text : text.slice(0, end)).split('\r\n');
  const m = /^HTTP\/\d\.\d (\d{3}) ?(.*)$/.exec(head[0] ?? '');
  into.response.status = m ? Number(m[1]) : 0;
  into.response.reason = m ? m[2] : 'connection closed without a response';
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) into.response.headers.push([line.slice(0, i), line.slice(i + 1).trim()]);
  }
  into.response.bodyBytes = end < 0 ? 0 : raw.length - end - 4;
}

const at = (w: { file: string; line: number } | undefined, prefix: string): string =>
  w ? `${path.relative(prefix, fromBytes(w.file)) || w.file}:${w.line}` : '-';

/** The explanation for people: one line a step. */
export function explainText(e: Explanation, prefix: string): string {
  const out: string[] = [];
  const { request: q } = e;
  out.push(`request   ${q.method} ${q.host ? `http://${q.host}` : ''}${q.target}   (arriving on ${q.addr})`);
  for (const s of e.steps) {
    switch (s.kind) {
      case 'listen':
        out.push(`listen    ${s.listen}: ${s.servers} server${s.servers === 1 ? '' : 's'} on this address`);
        break;
      case 'server':
        out.push(`server    ${at(s.where, prefix)} server_name ${s.names.map((n) => n || '""').join(' ')}   — ${s.rule}`);
        break;
      case 'location':
        if (s.tried && s.tried.length > 0) out.push(`          tried: ${s.tried.map((t) => fromBytes(t).split(fromBytes(prefix) + '/').join('')).join(', ')}`);
        out.push(`location  ${at(s.where, prefix)} location ${s.modifier ? s.modifier + ' ' : ''}${s.name}   — ${s.rule}`);
        break;
      case 'internal-redirect':
        out.push(`redirect  internal redirect to ${s.uri}   — ${s.reason}`);
        break;
      case 'named-location':
        out.push(`redirect  to named location ${s.name}   — ${s.reason}`);
        break;
      case 'content':
        out.push(`content   ${s.handler}: ${fromBytes(s.detail)}`);
        break;
      case 'rewrite':
        out.push(s.matched
          ? `rewrite   ${at(s.where, prefix)} ${fromBytes(s.regex)} matched → ${fromBytes(s.uri ?? '')}${s.flag ? ` (${s.flag})` : ''}`
          : `rewrite   ${at(s.where, prefix)} ${fromBytes(s.regex)} did not match`);
        break;
      case 'return':
        out.push(`return    ${at(s.where, prefix)} ${s.code}${s.text !== undefined ? ` ${fromBytes(s.text)}` : ''}`);
        break;
      case 'set':
        out.push(`set       ${at(s.where, prefix)} $${s.variable} = "${fromBytes(s.value)}"`);
        break;
      case 'if':
        out.push(`if        ${at(s.where, prefix)} ${fromBytes(s.condition)} is ${s.result}`);
        break;
      case 'break':
        out.push(`break     ${at(s.where, prefix)}`);
        break;
      case 'try_files':
        out.push(`try_files ${at(s.where, prefix)} ${fromBytes(s.tried)}: ${s.found ? 'found' : 'not found'}`);
        break;
      case 'access':
        out.push(`access    ${s.module}: ${fromBytes(s.result)}`);
        break;
      case 'proxy_pass':
        out.push(`content   proxy_pass ${at(s.where, prefix)} ${fromBytes(s.url)}   (explain does not connect)`);
        break;
      case 'upstream':
        out.push(`upstream  ${s.name} (${s.where === undefined ? 'made at run time for proxy_pass with variables' : `${s.implicit ? 'implicit, made by proxy_pass at ' : ''}${at(s.where, prefix)}`}): ${fromBytes(s.method)}`);
        for (const l of s.peers) out.push(`          ${l}`);
        break;
      case 'upstream-request':
        out.push(`send      ${fromBytes(s.line)}`);
        for (const [k, v] of s.headers) out.push(`            ${fromBytes(k)}: ${fromBytes(v)}`);
        break;
      case 'peer':
        out.push(`${s.attempt === 1 ? 'peer      ' : '          if it fails: '}${s.peer}   — ${fromBytes(s.reason)}`);
        break;
      case 'sticky':
        out.push(`sticky    upstream ${s.upstream}: ${fromBytes(s.rule)} → ${s.peer}`);
        break;
      default:
        out.push(`${s.kind.padEnd(9)} ${JSON.stringify({ ...s, kind: undefined })}`);
    }
  }
  const r = e.response;
  const h = (name: string) => r.headers.find(([k]) => k.toLowerCase() === name)?.[1];
  const extra = ['location', 'content-type', 'content-length'].map((n) => (h(n) ? `${n}: ${h(n)}` : '')).filter(Boolean);
  out.push(e.proxied ? `response  ${r.reason}` : `response  ${r.status} ${r.reason}${extra.length ? '   ' + extra.join(', ') : ''}`);
  for (const l of e.accessLog) out.push(`access    ${path.relative(prefix, fromBytes(l.path))}: ${fromBytes(l.line)}`);
  for (const l of e.errorLog) out.push(`error_log [${l.level}] ${fromBytes(l.message)}`);
  return out.join('\n') + '\n';
}
