// ngx_parse_url as proxy_pass calls it (uri_part, no_resolve), and
// ngx_http_proxy_set_vars: the Host header, $proxy_port and the URI part.

export interface ProxyUrl {
  /** "127.0.0.1", "[::1]", "backend", or the socket path for unix: */
  host: string;
  port: number;
  portText: string;
  noPort: boolean;
  defaultPort: number;
  /** "/a/b?x" or "" */
  uri: string;
  unix?: string;
}

/** nginx's plcf->vars */
export interface ProxyVars {
  /** "http://" */
  schema: string;
  /** Host header value and $proxy_host */
  hostHeader: string;
  /** $proxy_port */
  port: string;
  /** the URI part of proxy_pass, "" when none */
  uri: string;
}

/** ngx_parse_url for what follows "http://": the parts, or nginx's reason ("no host", "invalid port"). */
export function parseProxyUrl(text: string, defaultPort: number): ProxyUrl | string {
  if (text.slice(0, 5).toLowerCase() === 'unix:') {
    // ngx_parse_unix_domain_url: the path ends at ":" where the URI part starts
    const rest = text.slice(5);
    const colon = rest.indexOf(':');
    const path = colon >= 0 ? rest.slice(0, colon) : rest;
    if (path === '') return 'no path in the unix domain socket';
    return { host: path, port: 0, portText: '', noPort: true, defaultPort, uri: colon >= 0 ? rest.slice(colon + 1) : '', unix: path };
  }
  let hostEnd: number;
  let portFrom = -1;
  let last = text.length;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return 'invalid host';
    hostEnd = close + 1;
    const after = text.slice(hostEnd);
    const uriAt = after.search(/[/?]/);
    const end = uriAt >= 0 ? hostEnd + uriAt : text.length;
    if (text[hostEnd] === ':') portFrom = hostEnd + 1;
    else if (hostEnd !== end) return 'invalid host';
    last = end;
  } else {
    const slash = text.indexOf('/');
    const q = text.indexOf('?');
    let uri = slash;
    if (q >= 0 && (uri < 0 || q < uri)) uri = q;
    if (uri >= 0) last = uri;
    const colon = text.indexOf(':');
    if (colon >= 0 && colon < last) portFrom = colon + 1;
    hostEnd = portFrom >= 0 ? portFrom - 1 : last;
  }
  const uri = text.slice(last);
  let port = defaultPort;
  let portText = '';
  if (portFrom >= 0) {
    portText = text.slice(portFrom, last);
    const n = /^[0-9]+$/.test(portText) ? Number(portText) : NaN;
    if (!(n >= 1 && n <= 65535)) return 'invalid port';
    port = n;
  }
  const host = text.slice(0, hostEnd);
  if (host === '') return 'no host';
  return { host, port, portText, noPort: portFrom < 0, defaultPort, uri };
}

/** ngx_http_proxy_set_vars */
export function setVars(schema: string, u: ProxyUrl): ProxyVars {
  if (u.unix !== undefined) return { schema, hostHeader: 'localhost', port: '', uri: u.uri };
  if (u.noPort || u.port === u.defaultPort) {
    return { schema, hostHeader: u.host, port: String(u.defaultPort), uri: u.uri };
  }
  return { schema, hostHeader: `${u.host}:${u.portText}`, port: u.portText, uri: u.uri };
}
