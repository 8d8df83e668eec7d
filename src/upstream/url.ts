import { execFileSync } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { inet6Addr, inetAddr, INADDR_NONE } from '../core/inet';
import { parseNumber } from '../conf/values';

// ngx_parse_url as the upstream module uses it (no URI part, default port
// 80) and ngx_inet_resolve_host: every address of a name, IPv4 ones first,
// named as ngx_sock_ntop names them ("127.0.0.1:80", "[::1]:80").
//
// Config load is synchronous, and nginx resolves with a blocking
// getaddrinfo(). Literal addresses are parsed here; a name goes to
// `getent ahosts` (glibc's getaddrinfo, so /etc/hosts, nsswitch and DNS
// answer as they do for nginx), one child process per distinct name and
// load. getent does not pass AI_ADDRCONFIG as nginx does; its effect that
// matters (no IPv6 peers from a name on a host with no IPv6 address but
// loopback) is applied here.

export interface Addr {
  /** "127.0.0.1:80", "[::1]:80", "unix:/tmp/s" */
  name: string;
  host: string;
  port: number;
  family: 4 | 6 | 'unix';
  socketPath?: string;
}

export interface ParsedUrl {
  host: string;
  port: number;
  noPort: boolean;
  /** set for literal IPv6 and unix: URLs, which ngx_parse_url resolves itself */
  addrs?: Addr[];
  family?: 4 | 6 | 'unix';
  err?: string;
}

/** ngx_inet6_ntop: the longest run of two or more zero groups becomes "::". */
export function inet6Ntop(p: Uint8Array): string {
  let zero = -1;
  let last = -1;
  let max = 1;
  let n = 0;
  for (let i = 0; i < 16; i += 2) {
    if (p[i] || p[i + 1]) {
      if (max < n) {
        zero = last;
        max = n;
      }
      n = 0;
      continue;
    }
    if (n++ === 0) last = i;
  }
  if (max < n) {
    zero = last;
    max = n;
  }
  let out = '';
  n = 16;
  if (zero === 0) {
    if ((max === 5 && p[10] === 0xff && p[11] === 0xff) || max === 6 || (max === 7 && p[14] !== 0 && p[15] !== 1)) n = 12;
    out += ':';
  }
  for (let i = 0; i < n; i += 2) {
    if (i === zero) {
      out += ':';
      i += (max - 1) * 2;
      continue;
    }
    out += (p[i] * 256 + p[i + 1]).toString(16);
    if (i < 14) out += ':';
  }
  if (n === 12) out += `${p[12]}.${p[13]}.${p[14]}.${p[15]}`;
  return out;
}

function inetAddrText(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

export function addrOf(host: string, port: number, family: 4 | 6): Addr {
  return { name: family === 6 ? `[${host}]:${port}` : `${host}:${port}`, host, port, family };
}

const cache = new Map<string, string[] | undefined>();

/** Forgets resolved names (a reload resolves again, as nginx does). */
export function clearResolveCache(): void {
  cache.clear();
}

/**
 * ngx_inet_resolve_host: the addresses of host, IPv4 first, or undefined for
 * "host not found".
 */
export function resolveHost(host: string, port: number): Addr[] | undefined {
  const v4 = inetAddr(host);
  if (v4 !== INADDR_NONE) return [addrOf(inetAddrText(v4), port, 4)];
  const v6 = host.includes(':') ? inet6Addr(host) : undefined;
  if (v6) return [addrOf(inet6Ntop(v6), port, 6)];
  let ips = cache.get(host);
  if (!cache.has(host)) {
    ips = getent(host);
    cache.set(host, ips);
  }
  if (!ips) return undefined;
  if (!hasIpv6()) ips = ips.filter((ip) => !ip.includes(':'));
  if (ips.length === 0) return undefined;
  const four = ips.filter((ip) => !ip.includes(':')).map((ip) => addrOf(ip, port, 4));
  const six = ips.filter((ip) => ip.includes(':')).map((ip) => addrOf(inet6Ntop(inet6Addr(ip)!), port, 6));
  return [...four, ...six];
}

/** AI_ADDRCONFIG's test: an IPv6 address configured on an interface other than loopback */
function hasIpv6(): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((a) => a.family === 'IPv6' && !a.internal));
}

function getent(host: string): string[] | undefined {
  // getaddrinfo would take these as a service-less lookup of nothing
  if (host === '' || host.includes('\0')) return undefined;
  try {
    const out = execFileSync('getent', ['ahosts', host], { encoding: 'latin1', timeout: 10000, stdio: ['ignore', 'pipe', 'ignore'] });
    const ips: string[] = [];
    for (const line of out.split('\n')) {
      const [ip, type] = line.split(/\s+/);
      if (type === 'STREAM' && (ip.includes(':') ? inet6Addr(ip) : inetAddr(ip) !== INADDR_NONE)) ips.push(ip);
    }
    return ips.length ? ips : undefined;
  } catch {
    return undefined;
  }
}

/**
 * ngx_parse_url for `server` (uri_part off): "unix:/path", "[v6]:port",
 * "host:port" or "host". With `resolve`, names become addresses (the
 * `server` directive); without it (proxy_pass's no_resolve), only literal
 * IPv6 and unix: URLs carry addresses, as in nginx.
 */
export function parseUrl(url: string, defaultPort: number, resolve: boolean): ParsedUrl {
  if (url.length >= 5 && url.slice(0, 5).toLowerCase() === 'unix:') {
    const path = url.slice(5);
    if (path.length === 0) return { host: '', port: 0, noPort: true, err: 'no path in the unix domain socket' };
    if (path.length + 1 > 108) return { host: path, port: 0, noPort: true, err: 'too long path in the unix domain socket' };
    const addr: Addr = { name: `unix:${path}`, host: path, port: 0, family: 'unix', socketPath: path };
    return { host: path, port: 0, noPort: true, addrs: [addr], family: 'unix' };
  }
  if (url.startsWith('[')) return parseInet6Url(url, defaultPort);
  return parseInetUrl(url, defaultPort, resolve);
}

function parsePort(text: string): number | undefined {
  const n = parseNumber(text);
  return Number.isNaN(n) || n < 1 || n > 65535 ? undefined : n;
}

function parseInet6Url(url: string, defaultPort: number): ParsedUrl {
  const end = url.indexOf(']');
  if (end < 0) return { host: '', port: 0, noPort: true, err: 'invalid host' };
  const rest = url.slice(end + 1);
  let port = defaultPort;
  let noPort = true;
  if (rest.startsWith(':')) {
    const p = parsePort(rest.slice(1));
    if (p === undefined) return { host: '', port: 0, noPort: true, err: 'invalid port' };
    port = p;
    noPort = false;
  } else if (rest !== '') {
    return { host: '', port: 0, noPort: true, err: 'invalid host' };
  }
  const host = url.slice(1, end);
  if (host === '') return { host: '', port: 0, noPort: true, err: 'no host' };
  const bytes = inet6Addr(host);
  if (!bytes) return { host: '', port: 0, noPort: true, err: 'invalid IPv6 address' };
  // ngx_parse_inet6_url keeps the brackets in u->host
  return { host: url.slice(0, end + 1), port, noPort, family: 6, addrs: [addrOf(inet6Ntop(bytes), port, 6)] };
}

function parseInetUrl(url: string, defaultPort: number, resolve: boolean): ParsedUrl {
  let last = url.length;
  const colon = url.indexOf(':');
  const slash = url.indexOf('/');
  const q = url.indexOf('?');
  const uri = slash < 0 ? q : q < 0 ? slash : Math.min(slash, q);
  if (uri >= 0) return { host: '', port: 0, noPort: true, err: 'invalid host' };
  let port = defaultPort;
  let noPort = true;
  if (colon >= 0) {
    const p = parsePort(url.slice(colon + 1, last));
    if (p === undefined) return { host: '', port: 0, noPort: true, err: 'invalid port' };
    port = p;
    noPort = false;
    last = colon;
  }
  const host = url.slice(0, last);
  if (host === '') return { host: '', port: 0, noPort: true, err: 'no host' };
  if (!resolve) return { host, port, noPort };
  const addrs = resolveHost(host, port);
  if (!addrs) return { host, port, noPort, err: 'host not found' };
  return { host, port, noPort, addrs, family: addrs[0].family };
}
