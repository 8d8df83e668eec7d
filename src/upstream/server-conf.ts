import type { Cf } from '../conf/module';
import { parseNumber, parseTime } from '../conf/values';
import type { ServerConf } from './peers';
import { parseUrl } from './url';

// ngx_http_upstream_server: `server ADDRESS [weight=N] [max_conns=N]
// [max_fails=N] [fail_timeout=T] [backup] [down]`, each parameter allowed
// only if the balancing method declared so far supports it (uscf->flags),
// checked before the address is resolved. `route=ID` is nodinx's (as in
// nginx Plus) for `sticky route`.

/** NGX_HTTP_UPSTREAM_* flags */
export const F = {
  CREATE: 0x0001,
  WEIGHT: 0x0002,
  MAX_FAILS: 0x0004,
  FAIL_TIMEOUT: 0x0008,
  DOWN: 0x0010,
  BACKUP: 0x0020,
  MAX_CONNS: 0x0100,
} as const;

/** what `upstream {}` allows until a method says otherwise */
export const BLOCK_FLAGS = F.CREATE | F.WEIGHT | F.MAX_CONNS | F.MAX_FAILS | F.FAIL_TIMEOUT | F.DOWN | F.BACKUP;

/** what the hash, ip_hash and random methods allow: all but backup */
export const NO_BACKUP_FLAGS = BLOCK_FLAGS & ~F.BACKUP;

/** ngx_atoi as the parameters use it: NaN for NGX_ERROR */
const atoi = (s: string): number => parseNumber(s);

export function parseServer(cf: Cf, flags: number): ServerConf {
  const s: ServerConf = { name: '', addrs: [], weight: 1, maxFails: 1, failTimeout: 10, maxConns: 0, backup: false, down: false };
  const invalid = (v: string) => cf.error(`invalid parameter "${v}"`);
  const check = (v: string, flag: number) => {
    if (!(flags & flag)) throw cf.error(`balancing method does not support parameter "${v}"`);
  };
  for (const v of cf.args.slice(1)) {
    if (v.startsWith('weight=')) {
      check(v, F.WEIGHT);
      const n = atoi(v.slice(7));
      if (Number.isNaN(n) || n === 0) throw invalid(v);
      s.weight = n;
    } else if (v.startsWith('max_conns=')) {
      check(v, F.MAX_CONNS);
      const n = atoi(v.slice(10));
      if (Number.isNaN(n)) throw invalid(v);
      s.maxConns = n;
    } else if (v.startsWith('max_fails=')) {
      check(v, F.MAX_FAILS);
      const n = atoi(v.slice(10));
      if (Number.isNaN(n)) throw invalid(v);
      s.maxFails = n;
    } else if (v.startsWith('fail_timeout=')) {
      check(v, F.FAIL_TIMEOUT);
      const t = parseTime(v.slice(13), true);
      if (Number.isNaN(t)) throw invalid(v);
      s.failTimeout = t;
    } else if (v === 'backup') {
      check(v, F.BACKUP);
      s.backup = true;
    } else if (v === 'down') {
      check(v, F.DOWN);
      s.down = true;
    } else if (v.startsWith('route=') && v.length > 6) {
      s.route = v.slice(6);
    } else {
      throw invalid(v);
    }
  }
  const u = parseUrl(cf.args[0], 80, true);
  if (u.err) throw cf.error(`${u.err} in upstream "${cf.args[0]}"`);
  s.name = cf.args[0];
  s.addrs = u.addrs!;
  return s;
}
