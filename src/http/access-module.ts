import * as path from 'node:path';
import { A, C, type Cf, type Module } from '../conf/module';
import { parseAddr, parseCidr } from '../core/inet';
import type { HttpModuleHooks } from './core-conf';
import type { HttpRequest, Outcome } from './request';
import { logError } from './http-context';
import { GRANTED } from './access-phase';

// ngx_http_access_module: `allow` and `deny` by client address. The rules of
// a level are tried in order and the first that matches decides. nginx
// keeps one list per address family (IPv4, IPv6, unix), `all` going into
// each; a client whose family has no list is not checked at all.

export const ACCESS = 'http_access';

interface Rule {
  deny: boolean;
  /** network bytes and prefix length; prefix 0 for `all` */
  bytes: Uint8Array;
  prefix: number;
  /** the directive as written, for `nodinx explain` */
  text: string;
}

export interface AccessLocConf {
  rules?: Rule[];
  rules6?: Rule[];
  rulesUn?: Rule[];
}

/** ngx_http_access_rule */
function rule(cf: Cf, conf: AccessLocConf): string | undefined {
  const value = cf.args[0];
  const deny = cf.name === 'deny';
  const text = `${cf.name} ${value} (${path.relative(cf.cycle.confPrefix, cf.node.file)}:${cf.node.endLine})`;
  const all = value === 'all';
  let family: 4 | 6 | 'unix' | undefined;
  let bytes: Uint8Array = new Uint8Array(0);
  let prefix = 0;
  if (value === 'unix:') family = 'unix';
  else if (!all) {
    const cidr = parseCidr(value);
    if (!cidr) throw cf.error(`invalid parameter "${value}"`);
    if (cidr.meaningless) cf.warn(`low address bits of ${value} are meaningless`);
    ({ family, bytes, prefix } = cidr);
  }
  if (family === 4 || all) (conf.rules ??= []).push({ deny, bytes: all ? new Uint8Array(4) : bytes, prefix, text });
  if (family === 6 || all) (conf.rules6 ??= []).push({ deny, bytes: all ? new Uint8Array(16) : bytes, prefix, text });
  if (family === 'unix' || all) (conf.rulesUn ??= []).push({ deny, bytes, prefix: 0, text });
  return undefined;
}

function matches(addr: Uint8Array, r: Rule): boolean {
  for (let i = 0; i < r.bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, r.prefix - i * 8));
    if ((addr[i] & ((0xff << (8 - bits)) & 0xff)) !== r.bytes[i]) return false;
  }
  return true;
}

/** ngx_http_access_found: a deny is logged here only when `satisfy all` makes it final. */
function decide(r: HttpRequest, rules: Rule[], addr: Uint8Array): Outcome {
  const found = rules.find((rule) => matches(addr, rule));
  r.trace?.push({ kind: 'access', module: 'access', result: found ? found.text : 'no rule matches' });
  if (!found) return undefined;
  if (!found.deny) return GRANTED;
  if (r.loc.satisfy !== 'any') logError(r, 'error', 'access forbidden by rule');
  return 403;
}

/** ngx_http_access_handler */
function accessHandler(r: HttpRequest): Outcome {
  const conf = r.loc.confs[ACCESS] as AccessLocConf | undefined;
  if (!conf || (!conf.rules && !conf.rules6 && !conf.rulesUn)) return undefined;
  if (r.conn.remoteAddr === 'unix:') return conf.rulesUn ? decide(r, conf.rulesUn, new Uint8Array(0)) : undefined;
  // the address nginx's c->sockaddr holds (and a module such as realip would change)
  const addr = parseAddr(r.conn.remoteAddr);
  if (!addr) return undefined;
  const b = addr.bytes;
  if (addr.family === 4) return conf.rules ? decide(r, conf.rules, b) : undefined;
  // an IPv4 client of a dual-stack socket (::ffff:a.b.c.d) meets the IPv4 rules, if there are any
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (conf.rules && mapped) return decide(r, conf.rules, b.subarray(12));
  return conf.rules6 ? decide(r, conf.rules6, b) : undefined;
}

export const accessModule: Module & HttpModuleHooks = {
  name: ACCESS,
  provides: ['http_access'],
  type: 'http',
  createLoc: (): AccessLocConf => ({}),
  // the three lists are one array directive: a level with any rule keeps only its own
  mergeLoc(parent: AccessLocConf, child: AccessLocConf) {
    if (!child.rules && !child.rules6 && !child.rulesUn) Object.assign(child, { rules: parent.rules, rules6: parent.rules6, rulesUn: parent.rulesUn });
  },
  handlers: { access: accessHandler },
  commands: [
    { name: 'allow', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | C.HTTP_LMT | A.TAKE1, set: rule },
    { name: 'deny', type: C.HTTP_MAIN | C.HTTP_SRV | C.HTTP_LOC | C.HTTP_LMT | A.TAKE1, set: rule },
  ],
};
