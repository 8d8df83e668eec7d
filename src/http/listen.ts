import { execFileSync } from 'node:child_process';
import * as net from 'node:net';
import type { Cf } from '../conf/module';
import { parseFlag, parseNumber, parseSize, parseTime } from '../conf/values';

// `listen` as ngx_http_core_listen and ngx_parse_url read it.

export interface ListenConf {
  /** "0.0.0.0", "::", an address, or "" for a unix socket */
  addr: string;
  port: number;
  family: 4 | 6 | 'unix';
  path?: string;
  /** how nginx names it in messages: "0.0.0.0:80", "[::1]:80", "unix:/x" */
  text: string;
  wildcard: boolean;
  defaultServer: boolean;
  backlog?: number;
  reuseport: boolean;
  ipv6only: boolean;
  /** so_keepalive=on|off|idle:intvl:cnt */
  soKeepalive?: boolean | { idle?: number; interval?: number; count?: number };
  rcvbuf?: number;
  sndbuf?: number;
  deferred: boolean;
  bind: boolean;
  /** has options that need their own socket (nginx: "duplicate listen options") */
  hasSocketOptions: boolean;
  file: string;
  line: number;
}

function resolveHost(host: string): string | undefined {
  if (host === 'localhost') return '127.0.0.1';
  try {
    const out = execFileSync('getent', ['ahostsv4', host], { encoding: 'utf8', timeout: 5000 });
    return out.split(/\s+/)[0] || undefined;
  } catch {
    return undefined;
  }
}

export function defaultListen(cf: { file: string; line: number }): ListenConf {
  const port = process.getuid?.() === 0 ? 80 : 8000;
  return {
    addr: '0.0.0.0', port, family: 4, text: `0.0.0.0:${port}`, wildcard: true, defaultServer: false,
    reuseport: false, ipv6only: true, deferred: false, bind: false, hasSocketOptions: false, ...cf,
  };
}

/** Parses the address part; throws cf errors worded as nginx's. */
function parseAddress(cf: Cf, value: string): Pick<ListenConf, 'addr' | 'port' | 'family' | 'path' | 'text' | 'wildcard'> {
  if (value.startsWith('unix:')) {
    const path = value.slice(5);
    if (path === '') throw cf.error(`no path in the unix domain socket in "${value}" of the "listen" directive`);
    // sun_path holds 108 bytes with the terminating NUL
    if (Buffer.byteLength(path) + 1 > 108) {
      throw cf.error(`too long path in the unix domain socket in "${value}" of the "listen" directive`);
    }
    return { addr: '', port: 0, family: 'unix', path, text: value, wildcard: false };
  }
  let host: string;
  let portText: string | undefined;
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end < 0) throw cf.error(`invalid host in "${value}" of the "listen" directive`);
    host = value.slice(1, end);
    const rest = value.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) throw cf.error(`invalid host in "${value}" of the "listen" directive`);
    portText = rest ? rest.slice(1) : undefined;
    if (!net.isIPv6(host)) throw cf.error(`invalid IPv6 address in "${value}" of the "listen" directive`);
    // one spelling per address, as nginx compares sockaddrs: [0:0::1] is [::1]
    host = new URL(`http://[${host}]/`).hostname.slice(1, -1);
    const port = portText === undefined ? 80 : checkPort(cf, portText, value);
    const wildcard = host === '::' || /^[0:]+$/.test(host);
    return { addr: host, port, family: 6, text: `[${host}]:${port}`, wildcard };
  }
  const colon = value.lastIndexOf(':');
  if (colon >= 0) {
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
  } else if (/^[0-9]+$/.test(value)) {
    host = '*';
    portText = value;
  } else {
    host = value;
  }
  const port = portText === undefined ? 80 : checkPort(cf, portText, value);
  if (host === '*' || host === '') {
    return { addr: '0.0.0.0', port, family: 4, text: `0.0.0.0:${port}`, wildcard: true };
  }
  let addr = host;
  if (!net.isIPv4(host)) {
    const resolved = resolveHost(host);
    if (resolved === undefined) throw cf.error(`host not found in "${value}" of the "listen" directive`);
    addr = resolved;
  }
  return { addr, port, family: 4, text: `${addr}:${port}`, wildcard: addr === '0.0.0.0' };
}

function checkPort(cf: Cf, text: string, value: string): number {
  const port = parseNumber(text);
  if (Number.isNaN(port) || port < 1 || port > 65535) throw cf.error(`invalid port in "${value}" of the "listen" directive`);
  return port;
}

export function parseListen(cf: Cf): ListenConf {
  const [value, ...params] = cf.args;
  const ls: ListenConf = {
    ...parseAddress(cf, value),
    defaultServer: false, reuseport: false, ipv6only: true, deferred: false, bind: false, hasSocketOptions: false,
    file: cf.node.file, line: cf.node.endLine,
  };
  for (const p of params) {
    const eq = p.indexOf('=');
    const key = eq < 0 ? p : p.slice(0, eq);
    const val = eq < 0 ? '' : p.slice(eq + 1);
    switch (key) {
      case 'default_server':
      case 'default':
        if (eq >= 0) throw cf.error(`invalid parameter "${p}"`);
        ls.defaultServer = true;
        continue;
      case 'bind':
        ls.bind = true;
        continue;
      case 'deferred':
        ls.deferred = true;
        ls.hasSocketOptions = true;
        continue;
      case 'reuseport':
        ls.reuseport = true;
        ls.hasSocketOptions = true;
        continue;
      case 'backlog': {
        const n = parseNumber(val);
        if (Number.isNaN(n) || n === 0) throw cf.error(`invalid backlog "${p}"`);
        ls.backlog = n;
        ls.hasSocketOptions = true;
        continue;
      }
      case 'rcvbuf':
      case 'sndbuf': {
        const n = parseSize(val);
        if (Number.isNaN(n)) throw cf.error(`invalid ${key} "${p}"`);
        ls[key] = n;
        ls.hasSocketOptions = true;
        continue;
      }
      case 'ipv6only': {
        const v = parseFlag(val);
        if (v === undefined) throw cf.error(`invalid ipv6only flags "${val}"`);
        ls.ipv6only = v;
        ls.hasSocketOptions = true;
        continue;
      }
      case 'so_keepalive': {
        ls.soKeepalive = parseKeepalive(cf, val);
        ls.hasSocketOptions = true;
        continue;
      }
      case 'fastopen':
      case 'setfib':
      case 'accept_filter':
        ls.hasSocketOptions = true;
        continue;
      case 'ssl':
      case 'http2':
      case 'quic':
      case 'proxy_protocol':
        throw cf.error(`the "${key}" parameter of "listen" is not supported by nodinx`);
      default:
        throw cf.error(`invalid parameter "${p}"`);
    }
  }
  // nginx gives an address with its own socket options its own socket
  if (ls.hasSocketOptions) ls.bind = true;
  return ls;
}

function parseKeepalive(cf: Cf, val: string): ListenConf['soKeepalive'] {
  const flag = parseFlag(val);
  if (flag !== undefined) return flag;
  const parts = val.split(':');
  if (parts.length !== 3) throw cf.error(`invalid so_keepalive value: "${val}"`);
  const [idle, interval, count] = parts;
  const t = (s: string) => (s === '' ? undefined : parseTime(s, true));
  const ka = { idle: t(idle), interval: t(interval), count: count === '' ? undefined : parseNumber(count) };
  if ([ka.idle, ka.interval, ka.count].some((x) => x !== undefined && Number.isNaN(x)) || parts.every((x) => x === '')) {
    throw cf.error(`invalid so_keepalive value: "${val}"`);
  }
  return ka;
}
