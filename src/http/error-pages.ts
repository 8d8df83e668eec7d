import { NODINX_VERSION } from '../version';

// nginx's status lines and built-in error pages (ngx_http_status_lines,
// ngx_http_error_pages in ngx_http_special_response.c), byte for byte, with
// "nodinx" where nginx names itself.

/** Reason phrases of nginx's status lines; other codes get "NNN " with no phrase. */
export const STATUS_LINES: Record<number, string> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 206: 'Partial Content',
  301: 'Moved Permanently', 302: 'Moved Temporarily', 303: 'See Other', 304: 'Not Modified',
  307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Not Allowed', 406: 'Not Acceptable', 408: 'Request Time-out', 409: 'Conflict', 410: 'Gone',
  411: 'Length Required', 412: 'Precondition Failed', 413: 'Request Entity Too Large',
  414: 'Request-URI Too Large', 415: 'Unsupported Media Type', 416: 'Requested Range Not Satisfiable',
  421: 'Misdirected Request', 429: 'Too Many Requests',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable', 504: 'Gateway Time-out', 505: 'HTTP Version Not Supported',
  507: 'Insufficient Storage',
};

export function statusText(status: number): string {
  return STATUS_LINES[status] ?? '';
}

const CRLF = '\r\n';

function page(title: string, h1 = title, extra?: string): string {
  return `<html>${CRLF}<head><title>${title}</title></head>${CRLF}<body>${CRLF}<center><h1>${h1}</h1></center>${CRLF}` +
    (extra ? `<center>${extra}</center>${CRLF}` : '');
}

/** The page heads nginx has, by the status the handler finalized with. */
const PAGES: Record<number, string> = {
  301: page('301 Moved Permanently'),
  302: page('302 Found'),
  303: page('303 See Other'),
  307: page('307 Temporary Redirect'),
  308: page('308 Permanent Redirect'),
  400: page('400 Bad Request'),
  401: page('401 Authorization Required'),
  402: page('402 Payment Required'),
  403: page('403 Forbidden'),
  404: page('404 Not Found'),
  405: page('405 Not Allowed'),
  406: page('406 Not Acceptable'),
  409: page('409 Conflict'),
  410: page('410 Gone'),
  411: page('411 Length Required'),
  412: page('412 Precondition Failed'),
  413: page('413 Request Entity Too Large'),
  414: page('414 Request-URI Too Large'),
  415: page('415 Unsupported Media Type'),
  416: page('416 Requested Range Not Satisfiable'),
  421: page('421 Misdirected Request'),
  429: page('429 Too Many Requests'),
  494: page('400 Request Header Or Cookie Too Large', '400 Bad Request', 'Request Header Or Cookie Too Large'),
  495: page('400 The SSL certificate error', '400 Bad Request', 'The SSL certificate error'),
  496: page('400 No required SSL certificate was sent', '400 Bad Request', 'No required SSL certificate was sent'),
  497: page('400 The plain HTTP request was sent to HTTPS port', '400 Bad Request', 'The plain HTTP request was sent to HTTPS port'),
  498: page('404 Not Found'),
  500: page('500 Internal Server Error'),
  501: page('501 Not Implemented'),
  502: page('502 Bad Gateway'),
  503: page('503 Service Temporarily Unavailable'),
  504: page('504 Gateway Time-out'),
  505: page('505 HTTP Version Not Supported'),
  507: page('507 Insufficient Storage'),
};

export const SERVER_FULL = `nodinx/${NODINX_VERSION}`;
export const SERVER_SHORT = 'nodinx';

const TAIL_FULL = `<hr><center>${SERVER_FULL}</center>${CRLF}</body>${CRLF}</html>${CRLF}`;
const TAIL_SHORT = `<hr><center>${SERVER_SHORT}</center>${CRLF}</body>${CRLF}</html>${CRLF}`;

const PADDING_LINE = `<!-- a padding to disable MSIE and Chrome friendly error page -->${CRLF}`;
const MSIE_PADDING = PADDING_LINE.repeat(6);

/** Codes nginx answers on the status line as 400 (their pages say why). */
export function wireStatus(status: number): number {
  return status === 494 || status === 495 || status === 496 || status === 497 ? 400 : status;
}

export interface ClientQuirks {
  msie: boolean;
  msie6: boolean;
  chrome: boolean;
  safari: boolean;
}

/** ngx_http_user_agent's browser detection, for padding and keepalive_disable. */
export function userAgentQuirks(ua: string | undefined): ClientQuirks {
  const q: ClientQuirks = { msie: false, msie6: false, chrome: false, safari: false };
  if (!ua) return q;
  const i = ua.indexOf('MSIE ');
  if (i >= 0 && i + 7 < ua.length) {
    q.msie = true;
    if (ua[i + 6] === '.') {
      const v = ua[i + 5];
      if (v === '4' || v === '5') q.msie6 = true;
      else if (v === '6' && ua.indexOf('SV1', i + 8) < 0) q.msie6 = true;
    }
  }
  if (ua.includes('Opera')) {
    q.msie = false;
    q.msie6 = false;
    return q;
  }
  if (!q.msie) {
    if (ua.includes('Gecko/')) return q;
    if (ua.includes('Chrome/')) q.chrome = true;
    else if (ua.includes('Safari/') && ua.includes('Mac OS X')) q.safari = true;
  }
  return q;
}

const cache = new Map<string, Buffer>();

/**
 * The body of nginx's special response for a status, or undefined for codes
 * answered with no body (2xx, unknown codes).
 */
export function errorPageBody(status: number, tokens: 'on' | 'off' | 'build', padding: boolean): Buffer | undefined {
  const head = PAGES[status];
  if (head === undefined) return undefined;
  const key = `${status}/${tokens}/${padding}`;
  let body = cache.get(key);
  if (!body) {
    body = Buffer.from(head + (tokens === 'off' ? TAIL_SHORT : TAIL_FULL) + (padding ? MSIE_PADDING : ''), 'latin1');
    cache.set(key, body);
  }
  return body;
}

/** Whether a special response gets the MSIE/Chrome padding (4xx and 5xx only). */
export function wantsPadding(status: number, quirks: ClientQuirks): boolean {
  return status >= 400 && (quirks.msie || quirks.chrome);
}

export function serverHeader(tokens: 'on' | 'off' | 'build'): string {
  return tokens === 'off' ? SERVER_SHORT : SERVER_FULL;
}
