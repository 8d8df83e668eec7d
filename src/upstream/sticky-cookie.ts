import { createHash } from 'node:crypto';
import type { HttpRequest } from '../http/request';
import type { StickyCookieConf } from './sticky-conf';
import type { Peer } from './types';

// What names a server to a client: its `route=`, or as nginx Plus documents
// for both `sticky cookie` and `sticky route`, "a hexadecimal representation
// of the MD5 hash of the IP address and port, or of the UNIX-domain socket
// path" — the address as $upstream_addr prints it ("127.0.0.1:8080").

const routes = new WeakMap<Peer, string>();

export function peerRoute(peer: Peer): string {
  let id = routes.get(peer);
  if (id === undefined) {
    id = peer.route ?? createHash('md5').update(peer.socketPath ?? peer.name, 'latin1').digest('hex');
    routes.set(peer, id);
  }
  return id;
}

const WEEK = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => (n < 10 ? `0${n}` : String(n));

/**
 * ngx_http_cookie_time: "Thu, 31-Dec-37 23:55:55 GMT", with a 2-digit year
 * up to 2037 (for Netscape 3, nginx says) and 4 digits after.
 */
export function cookieTime(sec: number): string {
  const d = new Date(sec * 1000);
  const year = d.getUTCFullYear();
  return `${WEEK[d.getUTCDay()]}, ${pad(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${year > 2037 ? year : pad(year % 100)} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} GMT`;
}

/** nginx's "max" (as userid_expires max): the cookie lives until 31 Dec 2037 23:55:55 GMT. */
const MAX_EXPIRES = 2145916555;

/**
 * The Set-Cookie value that binds the client to `peer`, its attributes in
 * the order and spelling of nginx's own cookie writer (ngx_http_userid_filter:
 * expires, domain, path, secure, httponly, samesite; no max-age).
 */
export function stickyCookie(conf: StickyCookieConf, peer: Peer, r: HttpRequest, nowMs = Date.now()): string {
  let v = `${conf.name}=${peerRoute(peer)}`;
  if (conf.expires === 'max') v += `; expires=${cookieTime(MAX_EXPIRES)}`;
  else if (conf.expires !== undefined) v += `; expires=${cookieTime(Math.floor(nowMs / 1000) + conf.expires)}`;
  if (conf.domain) {
    const domain = conf.domain.run(r);
    if (domain) v += `; domain=${domain}`;
  }
  if (conf.path) v += `; path=${conf.path}`;
  if (conf.secure) v += '; secure';
  if (conf.httponly) v += '; httponly';
  if (conf.samesite) v += `; samesite=${conf.samesite.toLowerCase()}`;
  return v;
}
