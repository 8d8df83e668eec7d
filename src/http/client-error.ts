import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as net from 'node:net';
import type { HttpConnection } from './request';
import { Request } from './request-line';
import { logRequest } from './http-context';
import { errorPageBody, serverHeader, statusText, userAgentQuirks, wantsPadding, wireStatus } from './error-pages';
import { httpDateNow } from './core-variables';

// A request Node's parser refused never reaches the phases, yet nginx would
// have answered it with its own page and logged it: this writes that answer
// straight to the socket and logs it as far as the request line was read.

export type ParserError = NodeJS.ErrnoException & { rawPacket?: Buffer };

/** What Node's parser refused: nginx's 400 (or 414, 494, 505) with Connection: close. */
export function clientError(err: ParserError, socket: net.Socket, conn: HttpConnection | undefined): void {
  if (!socket.writable || err.code === 'ECONNRESET' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || !conn
    || (socket as unknown as { _httpMessage?: ServerResponse })._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  const packet = err.rawPacket?.toString('latin1') ?? '';
  let end = packet.search(/[\r\n]/);
  if (end < 0) end = packet.length;
  const line = packet.slice(0, end);
  let code = 400;
  if (err.code === 'HPE_HEADER_OVERFLOW') code = end >= 8192 || !/[\r\n]/.test(packet) ? 414 : 494;
  else if (err.code === 'HPE_INVALID_METHOD' && /^[A-Z_-]+ \/\S* HTTP\/1\.[01]$/.test(line)) code = 405;
  else if (err.code === 'HPE_INVALID_VERSION' && /HTTP\/[2-9]/.test(line)) code = 505;
  conn.requests++;
  const server = conn.addr.defaultServer!;
  const loc = server.core.loc!;
  const tokens = loc.serverTokens ?? 'on';
  const ua = /\r?\nuser-agent:[ \t]*([^\r\n]*)/i.exec(packet)?.[1];
  const body = errorPageBody(code, tokens, wantsPadding(code, userAgentQuirks(ua)))!;
  const wire = wireStatus(code);
  const head = `HTTP/1.1 ${wire} ${statusText(wire)}\r\nServer: ${serverHeader(tokens)}\r\nDate: ${httpDateNow()}\r\n` +
    `Content-Type: text/html\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
  // log it as nginx does: the request line as far as it was read
  const fake = new Request(
    { method: '', url: '', httpVersion: '', rawHeaders: [], headers: {} } as unknown as IncomingMessage,
    {} as ServerResponse, conn,
  );
  fake.requestLine = line;
  fake.bare = true;
  fake.headerLimit = 0;
  fake.out.contentType = 'text/html';
  fake.out.contentLength = body.length;
  fake.server = server;
  fake.loc = loc;
  fake.status = wire;
  fake.errStatus = wire;
  fake.headerSent = true;
  fake.headerBytes = head.length;
  fake.bodyBytesSent = body.length;
  fake.requestLength = 0;
  fake.done = true;
  conn.current = fake;
  try {
    logRequest(fake);
  } catch {
    // nothing to do
  }
}
